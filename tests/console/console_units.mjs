// The console's DOM-free helpers on their own, and every module loads (syntax and
// imports), in Node.js. Run by tests/console/test_console_js.py:
//   node console_units.mjs STATIC_DIR

import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { pathToFileURL } from "node:url";

const [staticDir] = process.argv.slice(2);
const load = (name) => import(pathToFileURL(join(staticDir, "js", name)).href);

// ------------------------------------------------------------------ every module but the shell loads
function modules(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? modules(join(dir, entry.name)) : entry.name.endsWith(".mjs") ? [join(dir, entry.name)] : [],
  );
}
const all = modules(join(staticDir, "js")).map((p) => relative(join(staticDir, "js"), p));
assert.ok(all.length >= 10, `only ${all.length} modules found`);
for (const name of all) {
  if (name === "main.mjs") continue; // the shell touches the document as it loads
  await load(name);
}

const { queryString, ApiError } = await load("api.mjs");
const { SSEParser } = await load("sse.mjs");
const { parseMetrics, highlights, rates } = await load("prom.mjs");
const { lastPeriods, usageRows, costRows, chartSeries, totalsByGroup } = await load("reports.mjs");

// ------------------------------------------------------------------ query strings
assert.equal(queryString({}), "");
assert.equal(queryString({ a: undefined, b: null, c: "" }), "");
assert.equal(queryString({ limit: 7, include_archived: false }), "?limit=7&include_archived=false");
assert.equal(queryString({ group_by: ["workspace_id", "model"] }), "?group_by%5B%5D=workspace_id&group_by%5B%5D=model");
assert.equal(queryString({ starting_at: "2026-01-01T00:00:00Z" }), "?starting_at=2026-01-01T00%3A00%3A00Z");
assert.equal(new ApiError(404, "not_found_error", "gone", "req_1").message, "gone");

// ------------------------------------------------------------------ SSE, split anywhere
const stream =
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\n' +
  ": a comment\n\n" +
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,' +
  '"delta":{"type":"text_delta","text":"h\\u00e9llo\\n"}}\n\n' +
  "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n" +
  'event: message_stop\ndata: {"type":"message_stop"}\n\n';
const whole = new SSEParser().push(stream);
assert.deepEqual(
  whole.map((e) => e.event),
  ["message_start", "content_block_delta", "ping", "message_stop"],
);
assert.equal(JSON.parse(whole[1].data).delta.text, "héllo\n");
for (let i = 0; i <= stream.length; i++) {
  const parser = new SSEParser();
  const events = [...parser.push(stream.slice(0, i)), ...parser.push(stream.slice(i))];
  assert.deepEqual(events, whole, `split at ${i}`);
}
assert.deepEqual(new SSEParser().push("data: a\ndata: b\n\n"), [{ event: "message", data: "a\nb" }]);

// ------------------------------------------------------------------ Prometheus text
const text = [
  "# HELP epistula_requests_total HTTP requests.",
  "# TYPE epistula_requests_total counter",
  'epistula_requests_total{method="POST",route="/v1/messages",status="200",model="m"} 5.0',
  'epistula_requests_total{method="POST",route="/v1/messages",status="429",model="m"} 2.0',
  'epistula_requests_total{method="GET",route="/metrics",status="200",model=""} 40.0',
  'epistula_requests_total{method="GET",route="/console",status="200",model=""} 9.0',
  'epistula_requests_total{method="GET",route="unmatched",status="500",model="a \\"quoted\\" \\\\ name"} 1.0',
  'epistula_messages_total{model="m",outcome="end_turn"} 4.0',
  'epistula_messages_total{model="m",outcome="error"} 1.0',
  'epistula_output_tokens_total{model="m"} 120.0',
  'epistula_input_tokens_total{model="m"} 30.0',
  'epistula_time_to_first_token_seconds_sum{model="m"} 0.5',
  'epistula_time_to_first_token_seconds_count{model="m"} 5.0',
  'epistula_queue_depth{model="m"} 3.0',
  'epistula_active_sequences{model="m"} 2.0',
  'epistula_prompt_cache_hit_ratio{model="m"} 0.25',
  "process_cpu_seconds_total 1.5e+01",
].join("\n");
const samples = parseMetrics(text);
assert.equal(samples.length, 15);
assert.equal(samples[4].labels.model, 'a "quoted" \\ name');
assert.equal(samples.at(-1).value, 15);
const h = highlights(samples);
assert.equal(h.requests, 8); // /metrics and /console left out
assert.equal(h.clientErrors, 2);
assert.equal(h.serverErrors, 1);
assert.deepEqual(h.outcomes, { end_turn: 4, error: 1 });
assert.equal(h.messages, 5);
assert.equal(h.outputTokens, 120);
assert.equal(h.meanTimeToFirstToken, 0.1);
assert.equal(h.queueDepth, 3);
assert.equal(h.activeSequences, 2);
assert.deepEqual(h.models, [{ model: "m", queueDepth: 3, activeSequences: 2, cacheHitRatio: 0.25 }]);
assert.deepEqual(rates(h, { ...h, requests: 18, inputTokens: 30, outputTokens: 220 }, 2), {
  requests: 5,
  inputTokens: 0,
  outputTokens: 50,
});
assert.equal(rates(null, h, 2), null);

// ------------------------------------------------------------------ report windows and shapes
const now = Date.parse("2026-03-10T15:42:07Z");
assert.deepEqual(lastPeriods(7, "1d", now), { starting_at: "2026-03-04T00:00:00Z", bucket_width: "1d", limit: 7 });
assert.deepEqual(lastPeriods(24, "1h", now), { starting_at: "2026-03-09T16:00:00Z", bucket_width: "1h", limit: 24 });

const buckets = [
  {
    starting_at: "2026-03-09T00:00:00Z",
    ending_at: "2026-03-10T00:00:00Z",
    results: [
      {
        workspace_id: "wrkspc_a",
        uncached_input_tokens: 10,
        cache_creation: { ephemeral_5m_input_tokens: 1, ephemeral_1h_input_tokens: 2 },
        cache_read_input_tokens: 3,
        output_tokens: 4,
      },
      { workspace_id: null, uncached_input_tokens: 100, cache_creation: {}, cache_read_input_tokens: 0, output_tokens: 0 },
    ],
  },
  {
    starting_at: "2026-03-10T00:00:00Z",
    ending_at: "2026-03-11T00:00:00Z",
    results: [{ workspace_id: "wrkspc_a", uncached_input_tokens: 5, cache_creation: {}, cache_read_input_tokens: 0, output_tokens: 5 }],
  },
];
const rows = usageRows(buckets, ["workspace_id"]);
assert.deepEqual(
  rows.map((r) => [r.start.slice(0, 10), r.fields.workspace_id, r.tokens, r.values.cache_creation_tokens]),
  [
    ["2026-03-09", "wrkspc_a", 20, 3],
    ["2026-03-09", null, 100, 0],
    ["2026-03-10", "wrkspc_a", 10, 0],
  ],
);
const totals = totalsByGroup(rows, (r) => r.tokens);
assert.deepEqual(
  totals.map((t) => [t.fields.workspace_id, t.total, t.values.output_tokens]),
  [
    [null, 100, 0],
    ["wrkspc_a", 30, 9],
  ],
);
const one = chartSeries(buckets, rows, (r) => r.tokens, 1);
assert.deepEqual(one.labels, ["2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z"]);
assert.deepEqual(
  one.series.map((s) => [s.group === null ? "other" : s.fields.workspace_id, s.values]),
  [
    [null, [100, 0]],
    ["other", [20, 10]],
  ],
);
const cost = costRows([{ starting_at: "2026-03-09T00:00:00Z", results: [{ amount: "12.5", workspace_id: "wrkspc_a" }] }], ["workspace_id"]);
assert.equal(cost[0].usd, 0.125);

console.log(JSON.stringify({ ok: true, modules: all.length }));
