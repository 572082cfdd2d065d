// The console's only door to the server: the public HTTP API, through call().
//
// Every request goes through call() (tests/console checks that no other module calls
// fetch, and that every call("METHOD", "/path") below names a route the server has).
// The admin key lives in sessionStorage only: it is sent in the x-api-key header and
// never put in a URL, a log or the page.

export const API_VERSION = "2023-06-01";
const ADMIN_KEY_ITEM = "epistula.console.adminKey";

let base = "";
let storage = null;

/** Where the API lives (the console's own origin and path prefix) and where the admin key is kept. */
export function configure(options) {
  if (options.base !== undefined) base = options.base.replace(/\/+$/, "");
  if (options.storage !== undefined) storage = options.storage;
}

export function adminKey() {
  return storage ? storage.getItem(ADMIN_KEY_ITEM) : null;
}

export function setAdminKey(key) {
  if (!storage) return;
  if (key) storage.setItem(ADMIN_KEY_ITEM, key);
  else storage.removeItem(ADMIN_KEY_ITEM);
}

/** An Anthropic error envelope ({type: "error", error: {type, message}, request_id}) as an exception. */
export class ApiError extends Error {
  constructor(status, type, message, requestId = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.type = type;
    this.requestId = requestId;
  }
}

/** Query parameters as the API reads them; arrays become name[]=a&name[]=b. */
export function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) {
      for (const item of value) params.append(`${name}[]`, String(item));
    } else {
      params.append(name, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function errorFrom(response) {
  let payload = null;
  try {
    payload = await response.json();
  } catch {
    // not JSON: described by the status alone
  }
  const error = payload && payload.error;
  return new ApiError(
    response.status,
    (error && error.type) || "api_error",
    (error && error.message) || `HTTP ${response.status} ${response.statusText}`.trim(),
    (payload && payload.request_id) || response.headers.get("request-id"),
  );
}

/**
 * One API request. `key` defaults to the admin key; pass a workspace key for the
 * Messages API, or null for endpoints without authentication. `as`: "json" (the parsed
 * body), "text", or "response" (the Response itself, for streams). Non-2xx answers throw
 * ApiError.
 */
export async function call(method, path, { query, body, key, signal, as = "json" } = {}) {
  const headers = { "anthropic-version": API_VERSION };
  const credential = key === undefined ? adminKey() : key;
  if (credential) headers["x-api-key"] = credential;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(base + path + queryString(query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", `The server could not be reached (${error && error.message})`);
  }
  if (!response.ok) throw await errorFrom(response);
  if (as === "response") return response;
  if (as === "text") return response.text();
  return response.json();
}

const segment = (id) => encodeURIComponent(id);

// ------------------------------------------------------------------ Admin API

/** GET /v1/organizations/me, with `key` (signing in) or the stored admin key. */
export function organization(key) {
  return call("GET", "/v1/organizations/me", { key });
}

export function listWorkspaces({ includeArchived = false, afterId, limit = 100 } = {}) {
  return call("GET", "/v1/organizations/workspaces", {
    query: { include_archived: includeArchived, include_default: true, after_id: afterId, limit },
  });
}

export function createWorkspace(name) {
  return call("POST", "/v1/organizations/workspaces", { body: { name } });
}

export function archiveWorkspace(workspaceId) {
  return call("POST", `/v1/organizations/workspaces/${segment(workspaceId)}/archive`);
}

export function listKeys({ workspaceId, status, afterId, limit = 100 } = {}) {
  return call("GET", "/v1/organizations/api_keys", {
    query: { workspace_id: workspaceId, status, after_id: afterId, limit },
  });
}

/** epistula's POST /v1/organizations/api_keys: the key object plus its secret in `key`, shown once. */
export function createKey(name, workspaceId) {
  return call("POST", "/v1/organizations/api_keys", { body: { name, workspace_id: workspaceId } });
}

/** Rename ({name}) or change status ({status: "active" | "inactive" | "archived"}). */
export function updateKey(keyId, changes) {
  return call("POST", `/v1/organizations/api_keys/${segment(keyId)}`, { body: changes });
}

export function usageReport(query) {
  return call("GET", "/v1/organizations/usage_report/messages", { query });
}

export function costReport(query) {
  return call("GET", "/v1/organizations/cost_report", { query });
}

/** Every item of a list endpoint ({data, has_more, last_id}), following after_id, up to `max`. */
export async function listAll(list, options = {}, max = 1000) {
  const items = [];
  let afterId;
  for (;;) {
    const page = await list({ ...options, afterId });
    items.push(...page.data);
    if (!page.has_more || !page.last_id || items.length >= max) return items;
    afterId = page.last_id;
  }
}

// ------------------------------------------------------------------ no admin key

/** The Prometheus text of GET /metrics (no authentication). */
export function metricsText(signal) {
  return call("GET", "/metrics", { key: null, as: "text", signal });
}

/** GET /v1/models with a workspace API key. */
export function listModels(key) {
  return call("GET", "/v1/models", { key, query: { limit: 100 } });
}

/** POST /v1/messages with stream: true and a workspace API key; the Response, for its SSE body. */
export function createMessageStream(key, params, signal) {
  return call("POST", "/v1/messages", { key, body: { ...params, stream: true }, signal, as: "response" });
}
