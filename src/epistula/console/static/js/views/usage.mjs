// Usage: the Admin API's messages usage report over the last hours or days, grouped by
// workspace, model and/or key, as a stacked bar chart and tables.

import { barChart } from "../chart.mjs";
import { formatBucket, formatInt, h, table } from "../dom.mjs";
import { chartSeries, fetchUsage, TOKEN_FIELDS, totalsByGroup, usageRows } from "../reports.mjs";
import { fieldTitle, fieldValue, namedSeries, reportControls, reportLoader } from "./common.mjs";

const PERIODS = [
  { value: "24h", label: "Last 24 hours (hourly)", count: 24, width: "1h" },
  { value: "7d", label: "Last 7 days", count: 7, width: "1d" },
  { value: "14d", label: "Last 14 days", count: 14, width: "1d" },
  { value: "31d", label: "Last 31 days", count: 31, width: "1d" },
];

const GROUPS = [
  ["workspace_id", "Workspace"],
  ["model", "Model"],
  ["api_key_id", "API key"],
];

const COLUMN_TITLES = {
  uncached_input_tokens: "Input (uncached)",
  cache_creation_tokens: "Cache writes",
  cache_read_input_tokens: "Cache reads",
  output_tokens: "Output",
};

export function render(root, ctx) {
  const output = h("div", { "aria-live": "polite" });
  const controls = reportControls({ periods: PERIODS, initialPeriod: "7d", groups: GROUPS, initialGroups: ["workspace_id"], onChange: () => load() });
  root.append(h("section", { class: "card" }, controls.form), output);

  const load = reportLoader({
    output,
    controls,
    ctx,
    fetchBuckets: (period, groupBy) => fetchUsage({ count: period.count, width: period.width, groupBy }),
    view,
  });

  function view(buckets, groupBy, period, names) {
    const rows = usageRows(buckets, groupBy);
    const measure = (row) => row.tokens;
    const totals = Object.fromEntries(TOKEN_FIELDS.map((f) => [f, rows.reduce((sum, r) => sum + r.values[f], 0)]));
    const all = TOKEN_FIELDS.reduce((sum, f) => sum + totals[f], 0);
    const { labels, series } = chartSeries(buckets, rows, measure);
    const chart = barChart({
      title: `Tokens per ${period.width === "1h" ? "hour" : "day"}, ${period.label.toLowerCase()}`,
      labels,
      series: namedSeries(series, names),
      format: (v) => formatInt(v),
      formatLabel: (l) => formatBucket(l, period.width),
    });
    const numbers = (values) => TOKEN_FIELDS.map((f) => formatInt(values[f] || 0));
    const groupColumns = groupBy.map(fieldTitle);
    const numeric = [...TOKEN_FIELDS, "total"].map((_, i) => groupColumns.length + i);
    const byGroup = totalsByGroup(rows, measure).map((entry) => [
      ...groupBy.map((f) => fieldValue(f, entry.fields[f], names)),
      ...numbers(entry.values),
      formatInt(entry.total),
    ]);
    const perBucket = rows
      .filter((row) => row.tokens > 0)
      .map((row) => [
        formatBucket(row.start, period.width),
        ...groupBy.map((f) => fieldValue(f, row.fields[f], names)),
        ...numbers(row.values),
        formatInt(row.tokens),
      ]);
    const tokenColumns = [...TOKEN_FIELDS.map((f) => COLUMN_TITLES[f]), "Total"];
    return [
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Totals"),
        h(
          "dl",
          { class: "stats" },
          TOKEN_FIELDS.map((f) => h("div", {}, h("dt", {}, COLUMN_TITLES[f]), h("dd", {}, formatInt(totals[f])))),
          h("div", {}, h("dt", {}, "All tokens"), h("dd", {}, formatInt(all))),
        ),
        chart,
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, groupBy.length ? `By ${groupBy.map(fieldTitle).join(", ").toLowerCase()}` : "Whole period"),
        table({ columns: [...groupColumns, ...tokenColumns], rows: byGroup, numeric }),
        h(
          "details",
          {},
          h("summary", {}, `Per ${period.width === "1h" ? "hour" : "day"}`),
          table({
            columns: ["Period (UTC)", ...groupColumns, ...tokenColumns],
            rows: perBucket,
            numeric: numeric.map((i) => i + 1),
          }),
        ),
      ),
    ];
  }

  load();
}
