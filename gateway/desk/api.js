// The desk's link to the API: sign in once with the API key and secret (a signed request, as
// programs sign theirs), then every call carries the HttpOnly session cookie (sent by the
// browser) and the CSRF token (kept in sessionStorage). The secret is never stored.
import {randomId} from "./util.js";

const STORE = "commex.session";

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.status = status; this.code = code; this.field = field;
  }
}

const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

/** hex HMAC-SHA256(secret, message), by WebCrypto (or a small fallback outside secure contexts). */
export async function hmacHex(secret, message) {
  const enc = new TextEncoder();
  if (globalThis.crypto?.subtle) {
    const key = await crypto.subtle.importKey("raw", enc.encode(secret), {name: "HMAC", hash: "SHA-256"}, false,
                                              ["sign"]);
    return hex(await crypto.subtle.sign("HMAC", key, enc.encode(message)));
  }
  const {hmacSha256} = await import("./sha256.js");
  return hex(hmacSha256(enc.encode(secret), enc.encode(message)));
}

export function session() {
  const raw = sessionStorage.getItem(STORE);
  return raw ? JSON.parse(raw) : null;
}

function forget() { sessionStorage.removeItem(STORE); }

/** fetch, telling the desk (ha.js) when this node does not answer (then ApiError UNREACHABLE). */
async function send(path, init) {
  try { return await fetch(path, init); }
  catch (err) {
    window.dispatchEvent(new Event("nodetrouble"));
    throw new ApiError(0, "UNREACHABLE", String(err.message || err));
  }
}

async function answer(resp) {
  const type = resp.headers.get("content-type") || "";
  const body = type.includes("json") ? await resp.json() : await resp.text();
  if (!resp.ok) {
    const e = (body && body.error) || {code: "HTTP_" + resp.status, message: String(body).slice(0, 200)};
    if (resp.status === 401 && e.code === "SESSION_EXPIRED") { forget(); window.dispatchEvent(new Event("signedout")); }
    if (resp.status === 503 && e.code === "STANDBY") window.dispatchEvent(new Event("nodetrouble"));
    throw new ApiError(resp.status, e.code, e.message);
  }
  return body;
}

/** Sign in: a request signed with the secret; the answer's CSRF token is all that is kept. */
export async function signIn(apiKey, secret) {
  const ts = String(Date.now()), path = "/v1/session";
  const signature = await hmacHex(secret, ts + "POST" + path);
  const resp = await send(path, {method: "POST", credentials: "same-origin",
                                  headers: {"X-API-Key": apiKey, "X-Timestamp": ts, "X-Signature": signature}});
  const body = await answer(resp);
  const s = {csrf: body.csrf_token, member: body.session.member, roles: body.session.roles,
             session_id: body.session.session_id, expires_ms: body.session.expires_ms};
  sessionStorage.setItem(STORE, JSON.stringify(s));
  return s;
}

export async function signOut() {
  try { await call("DELETE", "/v1/session"); } finally { forget(); }
}

/** A call with the session: JSON in and out; a refusal throws ApiError with its stable code. */
export async function call(method, path, body = undefined, {raw = false} = {}) {
  const s = session();
  const headers = {"X-CSRF-Token": s ? s.csrf : ""};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (["POST", "PATCH", "DELETE"].includes(method)) headers["Idempotency-Key"] = randomId("desk-");
  const resp = await send(path, {method, headers, credentials: "same-origin",
                                  body: body === undefined ? undefined : JSON.stringify(body)});
  if (raw && resp.ok) return resp;
  return answer(resp);
}

export const get = (path) => call("GET", path);
