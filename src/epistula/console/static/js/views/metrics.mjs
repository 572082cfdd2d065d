// Live metrics: GET /metrics every few seconds (while the tab is visible), the
// highlights as cards with a sparkline of the last minutes, and the engines per model.

import { ApiError, metricsText } from "../api.mjs";
import { sparkline } from "../chart.mjs";
import { clear, formatInt, formatNumber, h, table } from "../dom.mjs";
import { highlights, parseMetrics, rates } from "../prom.mjs";
import { loading } from "./common.mjs";

const INTERVAL_MS = 2000;
const HISTORY = 60;

export function render(root, ctx) {
  const output = h("div", { "aria-live": "off" });
  const stamp = h("p", { class: "muted", role: "status" }, "");
  root.append(
    h(
      "p",
      { class: "muted" },
      `Read from GET /metrics every ${INTERVAL_MS / 1000} s while this tab is visible. Request counts leave out /metrics and the console's own files.`,
    ),
    stamp,
    output,
  );
  output.append(loading());

  const history = { requests: [], outputTokens: [], queueDepth: [], activeSequences: [] };
  let previous = null;
  let previousAt = 0;
  let timer = null;
  let stopped = false;
  let controller = null;

  const remember = (name, value) => {
    history[name].push(value);
    if (history[name].length > HISTORY) history[name].shift();
  };

  async function tick() {
    if (stopped) return;
    if (document.hidden) {
      timer = setTimeout(tick, INTERVAL_MS);
      return;
    }
    controller = new AbortController();
    try {
      const now = performance.now();
      const current = highlights(parseMetrics(await metricsText(controller.signal)));
      const rate = rates(previous, current, (now - previousAt) / 1000);
      previous = current;
      previousAt = now;
      if (rate) {
        remember("requests", rate.requests);
        remember("outputTokens", rate.outputTokens);
      }
      remember("queueDepth", current.queueDepth);
      remember("activeSequences", current.activeSequences);
      if (!stopped) {
        clear(output).append(...view(current, rate));
        stamp.textContent = `Updated ${new Date().toLocaleTimeString()}.`;
      }
    } catch (error) {
      if (stopped || (error && error.name === "AbortError")) return;
      clear(output);
      if (error instanceof ApiError && error.status === 404) {
        output.append(h("p", {}, "Metrics are turned off on this server (metrics_enabled = false)."));
        return; // nothing to poll
      }
      ctx.fail(error);
    }
    if (!stopped) timer = setTimeout(tick, INTERVAL_MS);
  }

  function card(title, value, detail, series, label) {
    return h(
      "div",
      { class: "metric" },
      h("h2", {}, title),
      h("p", { class: "metric-value" }, value),
      detail ? h("p", { class: "muted" }, detail) : null,
      series && series.length > 1 ? sparkline(series, label) : null,
    );
  }

  function view(m, rate) {
    const outcomes = Object.entries(m.outcomes)
      .map(([outcome, n]) => `${outcome}: ${formatInt(n)}`)
      .join(", ");
    const perSecond = (v) => (rate ? `${formatNumber(v, 2)}/s now` : "rate after the next update");
    return [
      h(
        "div",
        { class: "metrics-grid" },
        card(
          "API requests",
          formatInt(m.requests),
          `${perSecond(rate && rate.requests)} · ${formatInt(m.clientErrors)} 4xx · ${formatInt(m.serverErrors)} 5xx`,
          history.requests,
          "Requests per second, last two minutes",
        ),
        card("Messages", formatInt(m.messages), outcomes || "none yet"),
        card(
          "Output tokens",
          formatInt(m.outputTokens),
          perSecond(rate && rate.outputTokens),
          history.outputTokens,
          "Output tokens per second, last two minutes",
        ),
        card(
          "Input tokens",
          formatInt(m.inputTokens),
          `cache reads ${formatInt(m.cacheReadTokens)} · cache writes ${formatInt(m.cacheWriteTokens)}`,
        ),
        card("Queue depth", formatInt(m.queueDepth), "requests waiting for a sequence slot", history.queueDepth, "Queue depth, last two minutes"),
        card(
          "Active sequences",
          formatInt(m.activeSequences),
          "being generated now",
          history.activeSequences,
          "Active sequences, last two minutes",
        ),
        card(
          "Time to first token",
          m.meanTimeToFirstToken === null ? "—" : `${formatNumber(m.meanTimeToFirstToken * 1000, 0)} ms`,
          "mean since start",
        ),
      ),
      h(
        "section",
        { class: "card" },
        h("h2", {}, "Engines"),
        table({
          columns: ["Model", "Queue depth", "Active sequences", "Prompt cache hit ratio"],
          rows: m.models.map((e) => [e.model, formatInt(e.queueDepth), formatInt(e.activeSequences), `${formatNumber(e.cacheHitRatio * 100, 1)} %`]),
          numeric: [1, 2, 3],
        }),
      ),
    ];
  }

  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
  };
}
