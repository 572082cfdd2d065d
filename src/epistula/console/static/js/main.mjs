// The console's shell: sign-in with an Admin API key, the navigation between views
// (#/workspaces, #/keys, ...), and the one place errors are shown.

import { adminKey, ApiError, configure, organization, setAdminKey } from "./api.mjs";
import { clear, field, h, onSubmitValue } from "./dom.mjs";
import * as cost from "./views/cost.mjs";
import * as keys from "./views/keys.mjs";
import * as metrics from "./views/metrics.mjs";
import * as playground from "./views/playground.mjs";
import * as usage from "./views/usage.mjs";
import * as workspaces from "./views/workspaces.mjs";

/** admin: the view needs the admin key (the Admin API); the others use no key or a workspace key. */
const VIEWS = {
  workspaces: { title: "Workspaces", admin: true, view: workspaces },
  keys: { title: "API keys", admin: true, view: keys },
  usage: { title: "Usage", admin: true, view: usage },
  cost: { title: "Cost", admin: true, view: cost },
  metrics: { title: "Live metrics", admin: false, view: metrics },
  playground: { title: "Playground", admin: false, view: playground },
};
const DEFAULT_VIEW = "workspaces";

const main = document.getElementById("view");
const messages = document.getElementById("messages");
const session = document.getElementById("session");
let current = null; // {name, spec}
let cleanup = null;
let organizationName = null;
let firstRender = true;

// The API lives on this origin, under the path this console is served from.
configure({ base: location.pathname.replace(/\/console(\/.*)?$/, ""), storage: window.sessionStorage });

function notify(text) {
  clear(messages).append(h("p", { class: "notice" }, text));
}

/** Show an error; a rejected admin key (401) signs out, a workspace key used as admin key (403) is explained. */
function fail(error, { admin = current ? current.spec.admin : false, signingIn = false } = {}) {
  if (!(error instanceof ApiError)) {
    clear(messages).append(h("p", { class: "alert", role: "alert" }, String(error && error.message ? error.message : error)));
    return;
  }
  if (admin && error.status === 401) {
    signOut("The server no longer accepts this admin key. Sign in again.");
    return;
  }
  const hint =
    (admin || signingIn) && error.status === 403
      ? " This looks like a workspace API key: the console needs an Admin API key."
      : "";
  const id = error.requestId ? ` (request ${error.requestId})` : "";
  clear(messages).append(h("p", { class: "alert", role: "alert" }, `${error.type}: ${error.message}${hint}${id}`));
}

const ctx = { notify, fail };

function route() {
  const hash = location.hash;
  if (!hash.startsWith("#/")) return { name: DEFAULT_VIEW, params: new URLSearchParams() };
  const [name, query] = hash.slice(2).split("?");
  return { name: VIEWS[name] ? name : DEFAULT_VIEW, params: new URLSearchParams(query || "") };
}

function renderSession() {
  clear(session);
  if (!adminKey()) return;
  const out = h("button", { type: "button", class: "secondary small" }, "Sign out");
  out.addEventListener("click", () => signOut("Signed out. The admin key was removed from this tab."));
  session.append(h("span", { class: "muted" }, organizationName ? `Signed in: ${organizationName}` : "Signed in"), out);
}

function signOut(text) {
  setAdminKey(null);
  organizationName = null;
  renderSession();
  show();
  notify(text);
}

function signInForm() {
  const input = h("input", {
    type: "password",
    name: "admin_key",
    required: true,
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "sk-epi-admin01-…",
  });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h(
    "form",
    { class: "card signin", method: "post" },
    h("h2", {}, "Sign in"),
    h(
      "p",
      {},
      "This page uses the Admin API. Enter an Admin API key (",
      h("code", {}, "epistula keys create --admin"),
      " or ",
      h("code", {}, "EPISTULA_ADMIN_API_KEY"),
      "). It is kept in this tab's session storage only and sent to this server in the ",
      h("code", {}, "x-api-key"),
      " header.",
    ),
    field("Admin API key", input),
    submit,
  );
  onSubmitValue(form, input, async (key) => {
    submit.disabled = true;
    try {
      const org = await organization(key); // verifies the key before keeping it
      setAdminKey(key);
      organizationName = org.name;
      clear(messages);
      renderSession();
      show();
    } catch (error) {
      fail(error, { admin: false, signingIn: true });
      input.select();
    } finally {
      submit.disabled = false;
    }
  });
  return { form, input };
}

function show() {
  if (cleanup) cleanup();
  cleanup = null;
  const { name, params } = route();
  const spec = VIEWS[name];
  current = { name, spec };
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${spec.title} · epistula console`;
  clear(main);
  const heading = h("h1", { tabindex: "-1" }, spec.title);
  main.append(heading);
  if (spec.admin && !adminKey()) {
    const { form, input } = signInForm();
    main.append(form);
    input.focus();
  } else {
    const section = h("div", { class: "view" });
    main.append(section);
    cleanup = spec.view.render(section, ctx, params) || null;
    if (!firstRender) heading.focus(); // tell screen readers the view changed
  }
  firstRender = false;
}

window.addEventListener("hashchange", () => {
  if (location.hash.startsWith("#/") || location.hash === "") {
    clear(messages);
    show();
  }
});

async function start() {
  if (adminKey()) {
    try {
      organizationName = (await organization()).name;
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) setAdminKey(null);
    }
  }
  renderSession();
  show();
}

start();
