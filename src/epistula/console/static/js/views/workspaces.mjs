// Workspaces: list (archived ones on request), create, archive.

import { archiveWorkspace, createWorkspace, listAll, listWorkspaces } from "../api.mjs";
import { clear, field, formatDate, h, onSubmitValue, table } from "../dom.mjs";
import { busy, DEFAULT_WORKSPACE, loading, statusBadge } from "./common.mjs";

export function render(root, ctx) {
  let includeArchived = false;
  const list = h("div", { "aria-live": "polite" });

  const name = h("input", { type: "text", name: "name", required: true, autocomplete: "off" });
  const submit = h("button", { type: "submit" }, "Create workspace");
  const form = h(
    "form",
    { class: "inline-form", method: "post" },
    field("Name", name),
    submit,
  );
  onSubmitValue(form, name, async (value) => {
    try {
      const workspace = await busy(submit, () => createWorkspace(value));
      ctx.notify(`Created workspace “${workspace.name}” (${workspace.id}).`);
      name.value = "";
      await load();
    } catch (error) {
      ctx.fail(error);
    }
  });

  const archived = h("input", { type: "checkbox" });
  archived.addEventListener("change", () => {
    includeArchived = archived.checked;
    load();
  });

  root.append(
    h("section", { class: "card" }, h("h2", {}, "New workspace"), form),
    h(
      "section",
      { class: "card" },
      h("div", { class: "section-head" }, h("h2", {}, "All workspaces"), h("label", { class: "check" }, archived, "Show archived")),
      list,
    ),
  );

  async function archive(workspace, button) {
    const question = `Archive workspace “${workspace.name}”? Its API keys are archived too, and this cannot be undone.`;
    if (!window.confirm(question)) return;
    try {
      await busy(button, () => archiveWorkspace(workspace.id));
      ctx.notify(`Archived workspace “${workspace.name}”.`);
      await load();
    } catch (error) {
      ctx.fail(error);
    }
  }

  function row(workspace) {
    const actions = h("div", { class: "actions" });
    actions.append(h("a", { href: `#/keys?workspace=${encodeURIComponent(workspace.id)}` }, "Keys"));
    if (!workspace.archived_at && workspace.id !== DEFAULT_WORKSPACE) {
      const button = h("button", { type: "button", class: "danger small" }, "Archive");
      button.addEventListener("click", () => archive(workspace, button));
      actions.append(button);
    }
    return [
      workspace.name,
      h("code", {}, workspace.id),
      formatDate(workspace.created_at),
      workspace.archived_at ? statusBadge("archived") : statusBadge("active"),
      actions,
    ];
  }

  async function load() {
    clear(list).append(loading());
    try {
      const workspaces = await listAll(listWorkspaces, { includeArchived });
      clear(list).append(
        table({
          caption: `${workspaces.length} workspace${workspaces.length === 1 ? "" : "s"}`,
          columns: ["Name", "ID", "Created", "Status", h("span", { class: "visually-hidden" }, "Actions")],
          rows: workspaces.map(row),
        }),
      );
    } catch (error) {
      clear(list);
      ctx.fail(error);
    }
  }

  load();
}
