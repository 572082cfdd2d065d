// Building the page from data without parsing strings as HTML: text from the server is only ever
// inserted as text nodes, so nothing it contains can become markup or script.

/**
 * h("button", {type: "button", class: "x", onclick: fn}, "Save"): attributes are set
 * as attributes (true: present, false/null: absent), on* functions become listeners.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function formatInt(n) {
  return integer.format(n);
}

export function formatNumber(n, digits = 1) {
  return new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(n);
}

export function formatUSD(usd) {
  const digits = usd !== 0 && Math.abs(usd) < 0.01 ? 6 : 2;
  return new Intl.NumberFormat(undefined, {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: 2,
    maximumFractionDigits: digits,
  }).format(usd);
}

/** "2026-05-01T00:00:00Z" as a short UTC date (or date and hour for hourly buckets). */
export function formatBucket(iso, width = "1d") {
  return width === "1h" ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(0, 10);
}

export function formatDate(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

/** A table from column headings and rows of cells (strings or nodes); numeric columns right-aligned. */
export function table({ caption, columns, rows, numeric = [] }) {
  const cellClass = (i) => (numeric.includes(i) ? "num" : null);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c, i) => h("th", { scope: "col", class: cellClass(i) }, c)))),
      h(
        "tbody",
        {},
        rows.length
          ? rows.map((cells) => h("tr", {}, cells.map((c, i) => h("td", { class: cellClass(i) }, c))))
          : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, "Nothing to show.")),
      ),
    ),
  );
}

/** A labelled form control: <label>text <input ...></label> keeps the label tied to the control. */
export function field(label, control, hint) {
  return h("label", { class: "field" }, h("span", { class: "field-label" }, label), control, hint ? h("small", {}, hint) : null);
}

/** Submitting `form` calls `handler` with `input`'s trimmed value, unless that is empty (the page stays). */
export function onSubmitValue(form, input, handler) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (value) handler(value);
  });
}

let uid = 0;
export function uniqueId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}
