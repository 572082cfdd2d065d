// Cost: the Admin API's cost report (USD, from the server's price table) over the last
// days, grouped by workspace and/or line item.

import { barChart } from "../chart.mjs";
import { formatBucket, formatUSD, h, table } from "../dom.mjs";
import { chartSeries, costRows, fetchCost, totalsByGroup } from "../reports.mjs";
import { fieldTitle, fieldValue, namedSeries, reportControls, reportLoader } from "./common.mjs";

const PERIODS = [
  { value: "7d", label: "Last 7 days", count: 7 },
  { value: "14d", label: "Last 14 days", count: 14 },
  { value: "31d", label: "Last 31 days", count: 31 },
];

const GROUPS = [
  ["workspace_id", "Workspace"],
  ["description", "Line item (model and token type)"],
];

export function render(root, ctx) {
  const output = h("div", { "aria-live": "polite" });
  const controls = reportControls({ periods: PERIODS, initialPeriod: "7d", groups: GROUPS, initialGroups: ["workspace_id"], onChange: () => load() });
  root.append(
    h(
      "section",
      { class: "card" },
      controls.form,
      h("p", { class: "muted" }, "Costs are computed from the stored token counts with the prices configured on the server now."),
    ),
    output,
  );

  const load = reportLoader({
    output,
    controls,
    ctx,
    fetchBuckets: (period, groupBy) => fetchCost({ count: period.count, groupBy }),
    view,
  });

  function view(buckets, groupBy, period, names) {
    const rows = costRows(buckets, groupBy);
    const measure = (row) => row.usd;
    const total = rows.reduce((sum, row) => sum + row.usd, 0);
    const { labels, series } = chartSeries(buckets, rows, measure);
    const groupColumns = groupBy.map(fieldTitle);
    const byGroup = totalsByGroup(rows, measure).map((entry) => [
      ...groupBy.map((f) => fieldValue(f, entry.fields[f], names)),
      formatUSD(entry.total),
    ]);
    const perDay = rows
      .filter((row) => row.usd !== 0)
      .map((row) => [formatBucket(row.start), ...groupBy.map((f) => fieldValue(f, row.fields[f], names)), formatUSD(row.usd)]);
    return [
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Total"),
        h("dl", { class: "stats" }, h("div", {}, h("dt", {}, period.label), h("dd", {}, formatUSD(total)))),
        barChart({
          title: `Cost per day (USD), ${period.label.toLowerCase()}`,
          labels,
          series: namedSeries(series, names),
          format: (v) => formatUSD(v),
          formatLabel: (l) => formatBucket(l),
        }),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, groupBy.length ? `By ${groupBy.map(fieldTitle).join(", ").toLowerCase()}` : "Whole period"),
        table({ columns: [...groupColumns, "Cost"], rows: byGroup, numeric: [groupColumns.length] }),
        h(
          "details",
          {},
          h("summary", {}, "Per day"),
          table({ columns: ["Day (UTC)", ...groupColumns, "Cost"], rows: perDay, numeric: [groupColumns.length + 1] }),
        ),
      ),
    ];
  }

  load();
}
