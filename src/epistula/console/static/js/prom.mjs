// The Prometheus text format of GET /metrics, and the few numbers the console shows.

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescape(value) {
  return value.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
}

/** Every sample as {name, labels, value}; comments and malformed lines are skipped. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = SAMPLE.exec(line.trim());
    if (!match) continue;
    const labels = {};
    for (const [, name, value] of (match[2] || "").matchAll(LABEL)) labels[name] = unescape(value);
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

function sum(samples, name, where = () => true) {
  return samples.filter((s) => s.name === name && where(s.labels)).reduce((total, s) => total + s.value, 0);
}

/** Routes that are the console's own traffic, not API use. */
const OWN_ROUTES = ["/metrics", "/console"];

/**
 * The highlights: API requests (without /metrics and the console's own files) and how
 * many failed, messages by outcome, token counters, time to first token, and per model
 * the engine's queue depth, active sequences and prompt-cache hit ratio.
 */
export function highlights(samples) {
  const api = (labels) => !OWN_ROUTES.includes(labels.route);
  const byModel = new Map();
  const model = (name) => {
    if (!byModel.has(name)) byModel.set(name, { model: name, queueDepth: 0, activeSequences: 0, cacheHitRatio: 0 });
    return byModel.get(name);
  };
  for (const s of samples) {
    if (s.name === "epistula_queue_depth") model(s.labels.model).queueDepth = s.value;
    if (s.name === "epistula_active_sequences") model(s.labels.model).activeSequences = s.value;
    if (s.name === "epistula_prompt_cache_hit_ratio") model(s.labels.model).cacheHitRatio = s.value;
  }
  const outcomes = {};
  for (const s of samples.filter((x) => x.name === "epistula_messages_total")) {
    outcomes[s.labels.outcome] = (outcomes[s.labels.outcome] || 0) + s.value;
  }
  const ttftSum = sum(samples, "epistula_time_to_first_token_seconds_sum");
  const ttftCount = sum(samples, "epistula_time_to_first_token_seconds_count");
  const models = [...byModel.values()];
  return {
    requests: sum(samples, "epistula_requests_total", api),
    clientErrors: sum(samples, "epistula_requests_total", (l) => api(l) && /^4/.test(l.status)),
    serverErrors: sum(samples, "epistula_requests_total", (l) => api(l) && /^5/.test(l.status)),
    messages: Object.values(outcomes).reduce((a, b) => a + b, 0),
    outcomes,
    inputTokens: sum(samples, "epistula_input_tokens_total"),
    outputTokens: sum(samples, "epistula_output_tokens_total"),
    cacheReadTokens: sum(samples, "epistula_cache_read_input_tokens_total"),
    cacheWriteTokens: sum(samples, "epistula_cache_creation_input_tokens_total"),
    meanTimeToFirstToken: ttftCount ? ttftSum / ttftCount : null,
    queueDepth: models.reduce((total, m) => total + m.queueDepth, 0),
    activeSequences: models.reduce((total, m) => total + m.activeSequences, 0),
    models,
  };
}

/** Per-second rates of the counters between two highlights taken `seconds` apart. */
export function rates(previous, current, seconds) {
  if (!previous || seconds <= 0) return null;
  const rate = (name) => Math.max(0, current[name] - previous[name]) / seconds;
  return {
    requests: rate("requests"),
    inputTokens: rate("inputTokens"),
    outputTokens: rate("outputTokens"),
  };
}
