// Pieces shared by the views: names for ids, status badges, busy buttons, report loading.

import { listAll, listKeys, listWorkspaces } from "../api.mjs";
import { clear, field, h } from "../dom.mjs";

export const DEFAULT_WORKSPACE = "wrkspc_default";

/** Names of workspaces and keys by id (archived ones included), for labelling report rows. */
export async function loadNames() {
  const [workspaces, keys] = await Promise.all([
    listAll(listWorkspaces, { includeArchived: true }),
    listAll(listKeys, {}),
  ]);
  return {
    workspaces: new Map(workspaces.map((w) => [w.id, w.name])),
    keys: new Map(keys.map((k) => [k.id, k.name])),
  };
}

const FIELD_TITLES = {
  workspace_id: "Workspace",
  api_key_id: "API key",
  model: "Model",
  description: "Line item",
};

export function fieldTitle(field) {
  return FIELD_TITLES[field] || field;
}

/** How a group-by value reads: a name with its id, or what a null stands for. */
export function fieldValue(field, value, names) {
  if (value === null || value === undefined) {
    if (field === "api_key_id") return "no key (batch)";
    if (field === "workspace_id") return "default workspace";
    return "—";
  }
  const name =
    field === "workspace_id" ? names?.workspaces.get(value) : field === "api_key_id" ? names?.keys.get(value) : null;
  return name ? `${name} (${value})` : value;
}

/** A group (the grouped-by fields of a row) as one line, "all" when not grouped. */
export function groupName(fields, names) {
  if (fields === null) return "other";
  const parts = Object.entries(fields).map(([field, value]) => fieldValue(field, value, names));
  return parts.length ? parts.join(" · ") : "all";
}

export function statusBadge(status) {
  return h("span", { class: `badge badge-${status}` }, status);
}

/** Runs `work` with `button` disabled and marked busy, so a double click does not act twice. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

export function loading(text = "Loading…") {
  return h("p", { class: "muted", role: "status" }, text);
}

/** A period <select> and group-by checkboxes that call `onChange()`; `read()` gives the choice. */
export function reportControls({ periods, initialPeriod, groups, initialGroups, onChange }) {
  const period = h("select", { name: "period" }, periods.map((p) => h("option", { value: p.value, selected: p.value === initialPeriod }, p.label)));
  const boxes = groups.map(([value, label]) => {
    const box = h("input", { type: "checkbox", name: "group_by", value, checked: initialGroups.includes(value) });
    return { value, box, label: h("label", { class: "check" }, box, label) };
  });
  const form = h(
    "form",
    { class: "inline-form", method: "post" },
    field("Period", period),
    h("fieldset", { class: "checks" }, h("legend", {}, "Group by"), boxes.map((b) => b.label)),
  );
  form.addEventListener("change", () => onChange());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    onChange();
  });
  return {
    form,
    read() {
      return {
        period: periods.find((p) => p.value === period.value),
        groupBy: boxes.filter((b) => b.box.checked).map((b) => b.value),
      };
    },
  };
}

/** The bar chart series of a report, each named after its group. */
export function namedSeries(series, names) {
  return series.map((ser) => ({ name: groupName(ser.fields, names), values: ser.values, other: ser.group === null }));
}

/**
 * A report's `load()`: the names of workspaces and keys (once), then
 * `fetchBuckets(period, groupBy)` for the controls' choice, shown in `output` as
 * `view(buckets, groupBy, period, names)`; a failure goes to `ctx.fail`.
 */
export function reportLoader({ output, controls, ctx, fetchBuckets, view }) {
  let names = null;
  let generation = 0;
  return async function load() {
    const { period, groupBy } = controls.read();
    const mine = ++generation; // a slower earlier answer must not overwrite a newer one
    clear(output).append(loading());
    try {
      if (!names) names = await loadNames().catch(() => ({ workspaces: new Map(), keys: new Map() }));
      const buckets = await fetchBuckets(period, groupBy);
      if (mine !== generation) return;
      clear(output).append(...view(buckets, groupBy, period, names));
    } catch (error) {
      if (mine !== generation) return;
      clear(output);
      ctx.fail(error);
    }
  };
}
