// The usage and cost reports: which window to ask for, every page of it, and the
// tables and chart series the console draws from the buckets. No DOM here.

import { costReport, usageReport } from "./api.mjs";

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const MAX_PAGES = 100;

export const TOKEN_FIELDS = ["uncached_input_tokens", "cache_creation_tokens", "cache_read_input_tokens", "output_tokens"];

function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * The report window for the last `count` days (whole UTC days, today included) or hours
 * (whole hours, the current one included): {starting_at, bucket_width, limit}, one bucket
 * per day or hour, so one page holds it all.
 */
export function lastPeriods(count, width = "1d", now = Date.now()) {
  const size = width === "1h" ? HOUR : DAY;
  const start = Math.floor(now / size) * size - (count - 1) * size;
  return { starting_at: rfc3339(start), bucket_width: width, limit: count };
}

/** Every bucket of a report, following next_page. */
export async function allBuckets(report, query) {
  const buckets = [];
  let page;
  for (let i = 0; i < MAX_PAGES; i++) {
    const answer = await report({ ...query, page });
    buckets.push(...answer.data);
    if (!answer.has_more || !answer.next_page) break;
    page = answer.next_page;
  }
  return buckets;
}

/** The usage report's buckets for the last `count` periods, grouped by `groupBy` (e.g. ["workspace_id", "model"]). */
export function fetchUsage({ count, width = "1d", groupBy = [] }) {
  return allBuckets(usageReport, { ...lastPeriods(count, width), group_by: groupBy });
}

/** The cost report's buckets for the last `count` days, grouped by `groupBy` (workspace_id, description). */
export function fetchCost({ count, groupBy = [] }) {
  const { starting_at, limit } = lastPeriods(count, "1d");
  return allBuckets(costReport, { starting_at, limit, group_by: groupBy });
}

/** A result's group: the values of the grouped-by fields (null ones included: the default workspace, batch items). */
export function groupKey(result, groupBy) {
  return JSON.stringify(groupBy.map((field) => result[field] ?? null));
}

/** Flat usage rows {start, group, values: {...}, tokens} with cache writes summed over both TTLs. */
export function usageRows(buckets, groupBy) {
  const rows = [];
  for (const bucket of buckets) {
    for (const result of bucket.results) {
      const creation = result.cache_creation || {};
      const values = {
        uncached_input_tokens: result.uncached_input_tokens || 0,
        cache_creation_tokens: (creation.ephemeral_5m_input_tokens || 0) + (creation.ephemeral_1h_input_tokens || 0),
        cache_read_input_tokens: result.cache_read_input_tokens || 0,
        output_tokens: result.output_tokens || 0,
      };
      const tokens = TOKEN_FIELDS.reduce((total, field) => total + values[field], 0);
      rows.push({ start: bucket.starting_at, group: groupKey(result, groupBy), fields: pick(result, groupBy), values, tokens });
    }
  }
  return rows;
}

/** Flat cost rows {start, group, fields, usd}; amounts come in cents as decimal strings. */
export function costRows(buckets, groupBy) {
  const rows = [];
  for (const bucket of buckets) {
    for (const result of bucket.results) {
      const usd = Number(result.amount) / 100;
      rows.push({ start: bucket.starting_at, group: groupKey(result, groupBy), fields: pick(result, groupBy), usd });
    }
  }
  return rows;
}

function pick(result, fields) {
  const picked = {};
  for (const field of fields) picked[field] = result[field] ?? null;
  return picked;
}

/** Rows summed per group, largest `measure` first: [{group, fields, total, values?}]. */
export function totalsByGroup(rows, measure) {
  const groups = new Map();
  for (const row of rows) {
    let entry = groups.get(row.group);
    if (!entry) {
      entry = { group: row.group, fields: row.fields, total: 0, values: {} };
      groups.set(row.group, entry);
    }
    entry.total += measure(row);
    for (const [field, value] of Object.entries(row.values || {})) {
      entry.values[field] = (entry.values[field] || 0) + value;
    }
  }
  return [...groups.values()].sort((a, b) => b.total - a.total);
}

/**
 * Chart series: one label per bucket, and per group (the `top` largest; the rest summed
 * as "other") its value in each bucket.
 */
export function chartSeries(buckets, rows, measure, top = 6) {
  const labels = buckets.map((bucket) => bucket.starting_at);
  const index = new Map(labels.map((label, i) => [label, i]));
  const ranked = totalsByGroup(rows, measure);
  const kept = new Map(ranked.slice(0, top).map((entry, i) => [entry.group, i]));
  const series = ranked.slice(0, top).map((entry) => ({ group: entry.group, fields: entry.fields, values: labels.map(() => 0) }));
  let other = null;
  for (const row of rows) {
    let target = kept.has(row.group) ? series[kept.get(row.group)] : null;
    if (!target) {
      if (!other) other = { group: null, fields: null, values: labels.map(() => 0) };
      target = other;
    }
    target.values[index.get(row.start)] += measure(row);
  }
  if (other) series.push(other);
  return { labels, series };
}
