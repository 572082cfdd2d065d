// API keys: list by workspace and status, create (the secret is shown once), rename,
// disable/enable, archive.

import { createKey, listAll, listKeys, listWorkspaces, updateKey } from "../api.mjs";
import { append, clear, field, formatDate, h, onSubmitValue, table } from "../dom.mjs";
import { busy, DEFAULT_WORKSPACE, loading, statusBadge } from "./common.mjs";

const STATUSES = ["active", "inactive", "archived", "expired"];

function keyWorkspace(key) {
  return (key.scope && key.scope.workspace_id) || key.workspace_id || DEFAULT_WORKSPACE;
}

export function render(root, ctx, params) {
  let workspaces = [];
  const filter = { workspace: params.get("workspace") || "", status: params.get("status") || "" };
  const list = h("div", { "aria-live": "polite" });
  const secretSlot = h("div");

  // ---------------------------------------------------------------- filters
  const workspaceFilter = h("select", { name: "workspace" });
  const statusFilter = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Any status"),
    STATUSES.map((s) => h("option", { value: s, selected: s === filter.status }, s)),
  );
  workspaceFilter.addEventListener("change", () => {
    filter.workspace = workspaceFilter.value;
    createIn.value = filter.workspace || DEFAULT_WORKSPACE;
    history.replaceState(null, "", filter.workspace ? `#/keys?workspace=${encodeURIComponent(filter.workspace)}` : "#/keys");
    load();
  });
  statusFilter.addEventListener("change", () => {
    filter.status = statusFilter.value;
    load();
  });

  // ---------------------------------------------------------------- create
  const createName = h("input", { type: "text", name: "name", required: true, autocomplete: "off", maxlength: 500 });
  const createIn = h("select", { name: "workspace_id" });
  const submit = h("button", { type: "submit" }, "Create key");
  const form = h("form", { class: "inline-form", method: "post" }, field("Name", createName), field("Workspace", createIn), submit);
  onSubmitValue(form, createName, async (name) => {
    try {
      const created = await busy(submit, () => createKey(name, createIn.value || undefined));
      createName.value = "";
      showSecret(created);
      await load();
    } catch (error) {
      ctx.fail(error);
    }
  });

  /** The new key's secret, once: removed from the page by "Done" or when leaving the view. */
  function showSecret(created) {
    const secret = h("input", {
      type: "text",
      readonly: true,
      class: "mono secret-value",
      value: created.key,
      "aria-label": `Secret of the new key “${created.name}”`,
      spellcheck: "false",
      autocomplete: "off",
    });
    const copy = h("button", { type: "button" }, "Copy");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(created.key);
        ctx.notify("Key copied to the clipboard.");
      } catch {
        secret.select();
        ctx.notify("Select the key and copy it (the clipboard is not available here).");
      }
    });
    const done = h("button", { type: "button", class: "secondary" }, "Done");
    done.addEventListener("click", () => clear(secretSlot));
    const panel = h(
      "section",
      { class: "card secret", "aria-labelledby": "secret-title" },
      h("h2", { id: "secret-title" }, `New key “${created.name}” (${created.id})`),
      h("p", {}, "Copy the key now: only its hash is stored, so it cannot be shown again."),
      h("div", { class: "inline-form" }, secret, copy, done),
    );
    clear(secretSlot).append(panel);
    secret.focus();
    secret.select();
  }

  // ---------------------------------------------------------------- actions
  async function change(key, changes, button, done) {
    try {
      await busy(button, () => updateKey(key.id, changes));
      ctx.notify(done);
      await load();
    } catch (error) {
      ctx.fail(error);
    }
  }

  function rename(key, cell) {
    const input = h("input", { type: "text", value: key.name, required: true, maxlength: 500, "aria-label": `New name of ${key.id}` });
    const save = h("button", { type: "submit", class: "small" }, "Save");
    const cancel = h("button", { type: "button", class: "secondary small" }, "Cancel");
    const editor = h("form", { class: "inline-form compact", method: "post" }, input, save, cancel);
    editor.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (name && name !== key.name) change(key, { name }, save, `Renamed ${key.id} to “${name}”.`);
      else load();
    });
    cancel.addEventListener("click", () => load());
    clear(cell).append(editor);
    input.focus();
  }

  function actions(key, nameCell) {
    const box = h("div", { class: "actions" });
    const add = (label, handler, cls = "small secondary") => {
      const button = h("button", { type: "button", class: cls }, label);
      button.addEventListener("click", () => handler(button));
      box.append(button);
    };
    if (key.status !== "archived") add("Rename", () => rename(key, nameCell));
    if (key.status === "active") {
      add("Disable", (b) => change(key, { status: "inactive" }, b, `Disabled ${key.name}: it gets 401 from now on.`));
    }
    if (key.status === "inactive") add("Enable", (b) => change(key, { status: "active" }, b, `Enabled ${key.name}.`));
    if (key.status === "active" || key.status === "inactive") {
      add(
        "Archive",
        (b) => {
          if (window.confirm(`Archive key “${key.name}”? Archiving cannot be undone.`)) {
            change(key, { status: "archived" }, b, `Archived ${key.name}.`);
          }
        },
        "small danger",
      );
    }
    return box;
  }

  function row(key, names) {
    const nameCell = h("span", {}, key.name);
    const workspace = keyWorkspace(key);
    return [
      nameCell,
      h("code", {}, key.id),
      h("code", {}, key.partial_key_hint || ""),
      names.get(workspace) || workspace,
      statusBadge(key.status),
      formatDate(key.created_at),
      actions(key, nameCell),
    ];
  }

  async function load() {
    clear(list).append(loading());
    try {
      const keys = await listAll(listKeys, { workspaceId: filter.workspace || undefined, status: filter.status || undefined });
      const names = new Map(workspaces.map((w) => [w.id, w.name]));
      clear(list).append(
        table({
          caption: `${keys.length} key${keys.length === 1 ? "" : "s"}`,
          columns: ["Name", "ID", "Key", "Workspace", "Status", "Created", h("span", { class: "visually-hidden" }, "Actions")],
          rows: keys.map((key) => row(key, names)),
        }),
      );
    } catch (error) {
      clear(list);
      ctx.fail(error);
    }
  }

  async function start() {
    try {
      workspaces = await listAll(listWorkspaces, { includeArchived: true });
    } catch (error) {
      ctx.fail(error);
      return;
    }
    const active = workspaces.filter((w) => !w.archived_at);
    append(workspaceFilter, [
      h("option", { value: "" }, "All workspaces"),
      workspaces.map((w) => h("option", { value: w.id, selected: w.id === filter.workspace }, w.archived_at ? `${w.name} (archived)` : w.name)),
    ]);
    append(createIn, active.map((w) => h("option", { value: w.id }, w.name)));
    createIn.value = active.some((w) => w.id === filter.workspace) ? filter.workspace : DEFAULT_WORKSPACE;
    await load();
  }

  root.append(
    secretSlot,
    h("section", { class: "card" }, h("h2", {}, "New API key"), form),
    h(
      "section",
      { class: "card" },
      h("div", { class: "section-head" }, h("h2", {}, "Keys"), h("div", { class: "inline-form compact" }, field("Workspace", workspaceFilter), field("Status", statusFilter))),
      list,
    ),
  );
  start();
  return () => clear(secretSlot);
}
