// Playground: a conversation with a served model through POST /v1/messages, streamed
// (SSE over fetch), with a workspace API key typed in here. The key stays in this
// page's memory only (not in storage), so it is gone when the tab closes or reloads.

import { ApiError, listModels } from "../api.mjs";
import { append, clear, field, formatInt, formatNumber, h } from "../dom.mjs";
import { messageText, streamMessage } from "../sse.mjs";

let workspaceKey = ""; // survives switching views, not reloads

export function render(root, ctx) {
  const conversation = []; // {role, content} turns sent with the next request
  let controller = null;

  const key = h("input", {
    type: "password",
    name: "api_key",
    autocomplete: "off",
    spellcheck: "false",
    value: workspaceKey,
    placeholder: "sk-epi-api01-…",
  });
  const model = h("input", { type: "text", name: "model", list: "playground-models", value: "claude-sonnet-4-6", required: true });
  const models = h("datalist", { id: "playground-models" });
  const system = h("textarea", { name: "system", rows: 2, placeholder: "Optional system prompt" });
  const maxTokens = h("input", { type: "number", name: "max_tokens", min: 1, value: 256, required: true });
  const temperature = h("input", { type: "number", name: "temperature", min: 0, max: 1, step: 0.1, placeholder: "default" });
  const prompt = h("textarea", { name: "prompt", rows: 4, required: true, placeholder: "Write a message…" });
  const send = h("button", { type: "submit" }, "Send");
  const stop = h("button", { type: "button", class: "secondary", disabled: true }, "Stop");
  const reset = h("button", { type: "button", class: "secondary" }, "New conversation");
  const transcript = h("div", { class: "transcript", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const stats = h("p", { class: "muted", role: "status" });

  async function loadModels() {
    workspaceKey = key.value.trim();
    clear(models);
    if (!workspaceKey) return;
    try {
      const page = await listModels(workspaceKey);
      append(models, page.data.map((m) => h("option", { value: m.id }, m.display_name)));
    } catch (error) {
      ctx.fail(error, { admin: false });
    }
  }
  key.addEventListener("change", loadModels);

  function bubble(role, text) {
    const body = h("div", { class: "bubble-text" }, text);
    const el = h("div", { class: `bubble bubble-${role}` }, h("span", { class: "bubble-role" }, role), body);
    transcript.append(el);
    el.scrollIntoView({ block: "end" });
    return body;
  }

  function params() {
    const body = {
      model: model.value.trim(),
      max_tokens: Number(maxTokens.value),
      messages: conversation.map((turn) => ({ ...turn })),
    };
    if (system.value.trim()) body.system = system.value;
    if (temperature.value !== "") body.temperature = Number(temperature.value);
    return body;
  }

  const form = h(
    "form",
    { class: "playground", method: "post" },
    h(
      "div",
      { class: "inline-form" },
      field("Workspace API key", key, "Kept in this page only; create one under API keys."),
      field("Model", model),
      models,
      field("Max tokens", maxTokens),
      field("Temperature", temperature),
    ),
    field("System prompt", system),
    transcript,
    field("Message", prompt),
    h("div", { class: "actions" }, send, stop, reset),
    stats,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    workspaceKey = key.value.trim();
    const text = prompt.value;
    if (!workspaceKey) {
      ctx.fail(new ApiError(401, "authentication_error", "Enter a workspace API key first."), { admin: false });
      key.focus();
      return;
    }
    if (!text.trim()) return;
    conversation.push({ role: "user", content: text });
    bubble("user", text);
    prompt.value = "";
    const reply = bubble("assistant", "");
    reply.classList.add("streaming");
    controller = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    stats.textContent = "Streaming…";
    try {
      const result = await streamMessage({
        key: workspaceKey,
        params: params(),
        signal: controller.signal,
        onEvent: (_, message) => {
          reply.textContent = messageText(message);
        },
      });
      const { message } = result;
      const answer = messageText(message);
      if (answer) conversation.push({ role: "assistant", content: answer });
      else conversation.pop(); // nothing to continue from: the next message replaces this turn
      const usage = message.usage || {};
      stats.textContent = [
        `stop_reason: ${message.stop_reason}`,
        `input ${formatInt(usage.input_tokens || 0)} · output ${formatInt(usage.output_tokens || 0)} tokens`,
        result.firstTokenMs === null ? null : `first token after ${formatNumber(result.firstTokenMs, 0)} ms`,
        result.requestId,
      ]
        .filter(Boolean)
        .join(" · ");
    } catch (error) {
      conversation.pop(); // the turn was not answered: it can be sent again
      if (error && error.name === "AbortError") {
        stats.textContent = "Stopped.";
      } else {
        stats.textContent = "";
        reply.textContent = error instanceof ApiError ? `${error.type}: ${error.message}` : String(error);
        reply.classList.add("error-text");
        ctx.fail(error, { admin: false });
      }
    } finally {
      reply.classList.remove("streaming");
      send.disabled = false;
      stop.disabled = true;
      controller = null;
    }
  });
  stop.addEventListener("click", () => controller && controller.abort());
  reset.addEventListener("click", () => {
    if (controller) controller.abort();
    conversation.length = 0;
    clear(transcript);
    stats.textContent = "";
  });

  root.append(h("section", { class: "card" }, form));
  if (workspaceKey) loadModels();
  return () => {
    if (controller) controller.abort();
  };
}
