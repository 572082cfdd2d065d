// The console's own JavaScript (api.mjs, sse.mjs, reports.mjs, prom.mjs: everything
// but the DOM) driven against a live epistula server, as the pages drive it.
//
// Run by tests/console/test_console_js.py:
//   node console_e2e.mjs STATIC_DIR BASE_URL ADMIN_KEY
// Exits non-zero (with the failed assertion on stderr) when anything is wrong.

import assert from "node:assert/strict";
import { pathToFileURL } from "node:url";

const [staticDir, baseUrl, adminSecret] = process.argv.slice(2);
const load = (name) => import(pathToFileURL(`${staticDir}/js/${name}`).href);
const api = await load("api.mjs");
const sse = await load("sse.mjs");
const reports = await load("reports.mjs");
const prom = await load("prom.mjs");

const MODEL = "claude-haiku-4-5";
const PRICE_IN = 1; // USD per million tokens, as the server under test is configured
const PRICE_OUT = 5;

// Every request the console makes, to check where it went and what it carried.
const sent = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init = {}) => {
  sent.push({ url: String(url), method: init.method, headers: { ...(init.headers || {}) } });
  return realFetch(url, init);
};

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(k) {
    return this.items.has(k) ? this.items.get(k) : null;
  }
  setItem(k, v) {
    this.items.set(k, String(v));
  }
  removeItem(k) {
    this.items.delete(k);
  }
}
const storage = new MemoryStorage();
api.configure({ base: baseUrl, storage });

async function rejects(promise, status, type) {
  await assert.rejects(promise, (error) => {
    assert.ok(error instanceof api.ApiError, `not an ApiError: ${error}`);
    if (status !== undefined) assert.equal(error.status, status, error.message);
    if (type !== undefined) assert.equal(error.type, type, error.message);
    return true;
  });
}

// ------------------------------------------------------------------ sign-in
await rejects(api.organization("sk-wrong"), 401, "authentication_error");
assert.equal(api.adminKey(), null);
const org = await api.organization(adminSecret);
assert.equal(org.type, "organization");
api.setAdminKey(adminSecret);
assert.equal(api.adminKey(), adminSecret);

// ------------------------------------------------------------------ workspaces
const suffix = Math.random().toString(36).slice(2, 8);
const workspace = await api.createWorkspace(`console-e2e-${suffix}`);
assert.match(workspace.id, /^wrkspc_/);
const listed = await api.listAll(api.listWorkspaces, {});
assert.ok(listed.some((w) => w.id === workspace.id), "new workspace not listed");
assert.ok(listed.some((w) => w.id === "wrkspc_default"), "default workspace not listed");
await rejects(api.createWorkspace(""), 400, "invalid_request_error");

// ------------------------------------------------------------------ keys
const created = await api.createKey(`bot-${suffix}`, workspace.id);
assert.match(created.id, /^apikey_/);
assert.equal(typeof created.key, "string");
const secret = created.key;
let keys = await api.listAll(api.listKeys, { workspaceId: workspace.id });
assert.deepEqual(
  keys.map((k) => [k.id, k.status]),
  [[created.id, "active"]],
);
assert.ok(!JSON.stringify(keys).includes(secret), "a listed key carries its secret");
const renamed = await api.updateKey(created.id, { name: `renamed-${suffix}` });
assert.equal(renamed.name, `renamed-${suffix}`);
// A workspace key is not an admin key: the Admin API answers 403.
await rejects(api.organization(secret), 403, "permission_error");

// ------------------------------------------------------------------ playground
const deltas = [];
const hello = await sse.streamMessage({
  key: secret,
  params: { model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "#say:hello from the console" }] },
  onEvent: (event, message) => {
    if (event === "content_block_delta") deltas.push(sse.messageText(message));
  },
});
assert.equal(sse.messageText(hello.message), "hello from the console");
assert.equal(hello.message.stop_reason, "end_turn");
assert.match(hello.requestId, /^req_/);
assert.ok(deltas.length > 1, `the reply came in ${deltas.length} delta(s), not streamed`);
assert.equal(deltas.at(-1), "hello from the console");
assert.ok(hello.message.usage.output_tokens > 0 && hello.message.usage.input_tokens > 0);
let billedIn = hello.message.usage.input_tokens;
let billedOut = hello.message.usage.output_tokens;

// A multi-turn conversation, as the playground sends it.
const second = await sse.streamMessage({
  key: secret,
  params: {
    model: MODEL,
    max_tokens: 64,
    system: "You are terse.",
    messages: [
      { role: "user", content: "#say:one" },
      { role: "assistant", content: "one" },
      { role: "user", content: "#say:two" },
    ],
  },
});
assert.equal(sse.messageText(second.message), "two");
billedIn += second.message.usage.input_tokens;
billedOut += second.message.usage.output_tokens;

// Stop and failures, with a key of another workspace (an aborted request's usage row is
// written whenever the server notices the disconnect, so it stays out of the sums below).
const scratch = await api.createWorkspace(`console-e2e-scratch-${suffix}`);
const scratchKey = (await api.createKey("scratch", scratch.id)).key;
const controller = new AbortController();
const slow = sse.streamMessage({
  key: scratchKey,
  params: { model: MODEL, max_tokens: 200, messages: [{ role: "user", content: "#slow:50 #forever" }] },
  signal: controller.signal,
  onEvent: (event) => {
    if (event === "content_block_delta") controller.abort();
  },
});
await assert.rejects(slow, (error) => error.name === "AbortError");

// An engine failure mid-stream arrives as an SSE error event.
await rejects(
  sse.streamMessage({ key: scratchKey, params: { model: MODEL, max_tokens: 64, messages: [{ role: "user", content: "#fail-after:3" }] } }),
);

// A disabled key gets 401 at once; enabled again it works.
await api.updateKey(created.id, { status: "inactive" });
await rejects(
  sse.streamMessage({ key: secret, params: { model: MODEL, max_tokens: 8, messages: [{ role: "user", content: "#say:x" }] } }),
  401,
  "authentication_error",
);
await api.updateKey(created.id, { status: "active" });
const models = await api.listModels(secret);
assert.ok(models.data.some((m) => m.id === MODEL), "the model list lacks the alias");

// ------------------------------------------------------------------ usage report
// The two messages of the workspace, exactly as they were billed.
const usageBuckets = await reports.fetchUsage({ count: 7, groupBy: ["workspace_id", "api_key_id"] });
assert.equal(usageBuckets.length, 7);
const usage = reports.usageRows(usageBuckets, ["workspace_id", "api_key_id"]);
const mine = usage.filter((r) => r.fields.workspace_id === workspace.id);
assert.ok(mine.length >= 1, "no usage row for the new workspace");
assert.ok(mine.every((r) => r.fields.api_key_id === created.id));
const sumOf = (rows, f) => rows.reduce((s, r) => s + r.values[f], 0);
assert.equal(sumOf(mine, "uncached_input_tokens"), billedIn);
assert.equal(sumOf(mine, "output_tokens"), billedOut);
assert.equal(sumOf(mine, "cache_read_input_tokens") + sumOf(mine, "cache_creation_tokens"), 0);
const perGroup = reports.totalsByGroup(usage, (r) => r.tokens);
const ours = perGroup.find((g) => g.fields.workspace_id === workspace.id);
assert.equal(ours.total, mine.reduce((s, r) => s + r.tokens, 0));
const chart = reports.chartSeries(usageBuckets, usage, (r) => r.tokens, 2);
assert.equal(chart.labels.length, 7);
const charted = chart.series.reduce((s, ser) => s + ser.values.reduce((a, b) => a + b, 0), 0);
assert.equal(charted, usage.reduce((s, r) => s + r.tokens, 0), "the chart lost or invented tokens");

// Hourly buckets: the last 24 hours, one bucket each, the current hour included.
const hourly = await reports.fetchUsage({ count: 24, width: "1h", groupBy: ["model"] });
assert.equal(hourly.length, 24);
assert.ok(hourly.every((b, i) => i === 0 || Date.parse(b.starting_at) - Date.parse(hourly[i - 1].starting_at) === 3600e3));

// ------------------------------------------------------------------ cost report
const costBuckets = await reports.fetchCost({ count: 7, groupBy: ["workspace_id"] });
const cost = reports.costRows(costBuckets, ["workspace_id"]).filter((r) => r.fields.workspace_id === workspace.id);
const usd = cost.reduce((s, r) => s + r.usd, 0);
const expected = (billedIn * PRICE_IN + billedOut * PRICE_OUT) / 1e6;
assert.ok(Math.abs(usd - expected) < 1e-9, `cost ${usd} USD, expected ${expected} USD for what was billed`);
const items = reports.costRows(await reports.fetchCost({ count: 7, groupBy: ["description"] }), ["description"]);
assert.ok(items.length > 0 && items.every((r) => typeof r.fields.description === "string"));

// ------------------------------------------------------------------ metrics
const highlights = prom.highlights(prom.parseMetrics(await api.metricsText()));
assert.ok(highlights.requests >= 10, `only ${highlights.requests} API requests counted`);
assert.ok(highlights.outputTokens >= billedOut);
assert.ok(highlights.messages >= 2);
assert.equal(highlights.queueDepth, 0);
assert.equal(highlights.activeSequences, 0);
assert.equal(highlights.models.length, 1);
assert.ok(highlights.meanTimeToFirstToken > 0);

// ------------------------------------------------------------------ archive
const archived = await api.updateKey(created.id, { status: "archived" });
assert.equal(archived.status, "archived");
await rejects(api.updateKey(created.id, { status: "active" }), 400, "invalid_request_error");
const gone = await api.archiveWorkspace(workspace.id);
assert.ok(gone.archived_at);
assert.ok(!(await api.listAll(api.listWorkspaces, {})).some((w) => w.id === workspace.id));
assert.ok((await api.listAll(api.listWorkspaces, { includeArchived: true })).some((w) => w.id === workspace.id));

// ------------------------------------------------------------------ what went over the wire
const origin = new URL(baseUrl).origin;
for (const request of sent) {
  const url = new URL(request.url);
  assert.equal(url.origin, origin, `a request left the server: ${request.url}`);
  assert.ok(![adminSecret, secret, scratchKey].some((k) => request.url.includes(k)), "a key was put in a URL");
  assert.equal(request.headers["anthropic-version"], "2023-06-01");
  if (url.pathname.startsWith("/v1/organizations/")) assert.ok(request.headers["x-api-key"], `no key sent to ${url.pathname}`);
  if (url.pathname === "/metrics") assert.equal(request.headers["x-api-key"], undefined, "a key was sent to /metrics");
}
const reportUrl = sent.find((r) => r.url.includes("/usage_report/messages"));
assert.match(reportUrl.url, /group_by%5B%5D=workspace_id&group_by%5B%5D=api_key_id/);

api.setAdminKey(null);
assert.equal(api.adminKey(), null);
console.log(JSON.stringify({ ok: true, requests: sent.length }));
