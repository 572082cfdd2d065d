// Server-sent events from fetch() + ReadableStream (EventSource cannot POST or send
// headers), and the fold of the Messages stream into a message, as the SDKs do.

import { ApiError, createMessageStream } from "./api.mjs";

/** Incremental SSE parser: push() text as it arrives, get back the complete events. */
export class SSEParser {
  constructor() {
    this.buffer = "";
  }

  push(text) {
    this.buffer += text;
    const events = [];
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(this.buffer);
      if (!match) return events;
      const frame = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = parseFrame(frame);
      if (event) events.push(event);
    }
  }
}

function parseFrame(frame) {
  let event = "message";
  const data = [];
  for (const line of frame.split(/\r\n|\n|\r/)) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  return data.length ? { event, data: data.join("\n") } : null;
}

/** The events of a streamed Response body, each {event, data} with data parsed as JSON. */
export async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SSEParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      const text = done ? decoder.decode() : decoder.decode(value, { stream: true });
      for (const event of parser.push(text)) {
        yield { event: event.event, data: JSON.parse(event.data) };
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Stream one message: POST /v1/messages with `stream: true`, calling `onEvent(event,
 * message)` after each event is folded into `message` ({id, model, content[],
 * stop_reason, usage}). Resolves to the final message plus `requestId` and
 * `firstTokenMs` (milliseconds from sending to the first content delta). An `error`
 * event rejects with ApiError.
 */
export async function streamMessage({ key, params, signal, onEvent = () => {} }) {
  const sent = performance.now();
  const response = await createMessageStream(key, params, signal);
  const message = { id: null, model: null, content: [], stop_reason: null, stop_sequence: null, usage: {} };
  const result = { message, requestId: response.headers.get("request-id"), firstTokenMs: null };
  for await (const { event, data } of readEvents(response)) {
    switch (data.type) {
      case "message_start":
        Object.assign(message, data.message, { content: [] });
        break;
      case "content_block_start":
        message.content[data.index] = { ...data.content_block };
        break;
      case "content_block_delta": {
        if (result.firstTokenMs === null) result.firstTokenMs = performance.now() - sent;
        applyDelta(message.content[data.index], data.delta);
        break;
      }
      case "message_delta":
        Object.assign(message, data.delta);
        message.usage = { ...message.usage, ...data.usage };
        break;
      case "error":
        throw new ApiError(200, data.error.type, data.error.message, data.request_id || result.requestId);
      default:
        break; // ping, content_block_stop, message_stop
    }
    onEvent(event, message);
  }
  return result;
}

function applyDelta(block, delta) {
  if (!block) return;
  switch (delta.type) {
    case "text_delta":
      block.text = (block.text || "") + delta.text;
      break;
    case "thinking_delta":
      block.thinking = (block.thinking || "") + delta.thinking;
      break;
    case "signature_delta":
      block.signature = delta.signature;
      break;
    case "input_json_delta":
      block.partial_json = (block.partial_json || "") + delta.partial_json;
      break;
    case "citations_delta":
      block.citations = [...(block.citations || []), delta.citation];
      break;
    default:
      break;
  }
}

/** The text of a message's text blocks. */
export function messageText(message) {
  return message.content
    .filter((block) => block && block.type === "text")
    .map((block) => block.text)
    .join("");
}
