/**
 * Redaction of credentials in URLs: the userinfo (`user:password@`) and the
 * values of sensitive query parameters (`?token=...`), so that what the HTTP
 * client reports (events, errors, spans) carries no secret.
 *
 * @module
 */

/**
 * The query parameters whose values {@link redactUrl} (and the HTTP client,
 * unless its `redactQueryParams` option says otherwise) replaces with
 * `REDACTED`. Names are matched case-insensitively, after percent-decoding.
 *
 * @example Extending the list for a client
 * ```ts
 * import { createClient, DEFAULT_REDACTED_QUERY_PARAMS } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(DEFAULT_REDACTED_QUERY_PARAMS.includes("access_token"));
 * const client = createClient({
 *   redactQueryParams: [...DEFAULT_REDACTED_QUERY_PARAMS, "x-partner-id"],
 *   policy: { telemetry: false },
 * });
 * client.close();
 * ```
 */
export const DEFAULT_REDACTED_QUERY_PARAMS: readonly string[] = Object.freeze([
  "token",
  "access_token",
  "id_token",
  "refresh_token",
  "api_key",
  "apikey",
  "key",
  "secret",
  "client_secret",
  "password",
  "passwd",
  "sig",
  "signature",
  "auth",
  "authorization",
  "session",
  "code",
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-security-token",
  "x-goog-signature",
  "x-goog-credential",
]);

/** What replaces a sensitive value. */
export const REDACTED = "REDACTED";

/** A lower-cased set of parameter names. */
export type RedactedParams = ReadonlySet<string>;

/** The default list as a lower-cased set. */
export const DEFAULT_REDACTED_PARAMS: RedactedParams = new Set(DEFAULT_REDACTED_QUERY_PARAMS);

/** Lower-cases `names` into a set. */
export function redactedParams(names: Iterable<string>): RedactedParams {
  const set = new Set<string>();
  for (const name of names) set.add(name.toLowerCase());
  return set;
}

/**
 * `scheme://userinfo@` (or a scheme-relative `//userinfo@` at the start or
 * after whitespace, a quote, `(`, `<`, `[` or `=`): the userinfo runs to the
 * last `@` before the end of the authority (`/`, `?`, `#`, `\` or
 * whitespace).
 */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/|(?:^|(?<=[\s"'(<[=]))\/\/)[^\s/?#\\]*@/gi;

/**
 * A `name=value` pair after `?`, `&` or `#`; the value stops at `&`, `#`,
 * whitespace, a quote or `<>` (never earlier, so no part of a secret stays).
 */
const PARAM = /([?&#])([^=&#?\s"'<>]+)=([^&#\s"'<>]*)/g;

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replaceAll("+", " ")).toLowerCase();
  } catch {
    return name.toLowerCase();
  }
}

/**
 * Redacts every URL-like part of `text` (a URL, an error message or a
 * stack): removes userinfo, replaces sensitive parameter values. Returns
 * `text` itself when there is nothing to redact.
 */
export function redactText(text: string, params: RedactedParams): string {
  let out = text;
  if (out.includes("@")) out = out.replace(USERINFO, "$1");
  if (out.includes("=")) {
    out = out.replace(
      PARAM,
      (match, sep: string, name: string, value: string) =>
        value !== REDACTED && params.has(decodeName(name)) ? `${sep}${name}=${REDACTED}` : match,
    );
  }
  return out === text ? text : out;
}

/**
 * A URL without its secrets: the userinfo (`user:password@`) is removed and
 * the value of each sensitive query (or fragment) parameter is replaced with
 * `REDACTED`. The names are matched case-insensitively, after
 * percent-decoding; by default they are {@link DEFAULT_REDACTED_QUERY_PARAMS},
 * and `params` replaces that list. A URL with nothing to redact comes back
 * exactly as given (a `URL` as its `href`); a string that is not a valid URL
 * is redacted the same way, as text, and never throws.
 *
 * @param url The URL (or URL-like text).
 * @param params The parameter names to redact instead of the default list.
 * @returns The redacted URL as a string.
 *
 * @example
 * ```ts
 * import { redactUrl } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.equal(
 *   redactUrl("https://user:pw@api.example/x?Token=abc&page=2"),
 *   "https://api.example/x?Token=REDACTED&page=2",
 * );
 * assert.equal(redactUrl("https://api.example/x?page=2"), "https://api.example/x?page=2");
 * assert.equal(redactUrl("https://api.example/?tenant=7", ["tenant"]), "https://api.example/?tenant=REDACTED");
 * ```
 */
export function redactUrl(url: string | URL, params?: Iterable<string>): string {
  const text = url instanceof URL ? url.href : String(url);
  return redactText(text, params === undefined ? DEFAULT_REDACTED_PARAMS : redactedParams(params));
}

/** How deep {@link redactError} follows `cause` (and `errors`). */
const MAX_DEPTH = 8;

/**
 * `error` with its message, stack, string properties and cause chain
 * redacted by {@link redactText}. Returns `error` itself when nothing
 * changes; otherwise a copy that keeps its prototype (so its class and
 * `instanceof`), name and other own properties.
 */
export function redactError<T>(error: T, params: RedactedParams, depth = 0): T {
  if (typeof error === "string") return redactText(error, params) as T;
  if (typeof error !== "object" || error === null || depth > MAX_DEPTH) return error;
  if (Array.isArray(error)) {
    let changed = false;
    const items = error.map((item) => {
      const redacted = redactError(item, params, depth + 1);
      if (redacted !== item) changed = true;
      return redacted;
    });
    return (changed ? items : error) as T;
  }
  if (!(error instanceof Error)) return error;
  const message = redactText(error.message, params);
  const stack = typeof error.stack === "string" ? redactText(error.stack, params) : error.stack;
  const changes = new Map<PropertyKey, unknown>();
  for (const key of Reflect.ownKeys(error)) {
    if (key === "message" || key === "stack") continue;
    const desc = Object.getOwnPropertyDescriptor(error, key);
    if (desc === undefined || !("value" in desc)) continue;
    const redacted = redactError(desc.value, params, depth + 1);
    if (redacted !== desc.value) changes.set(key, redacted);
  }
  if (message === error.message && stack === error.stack && changes.size === 0) return error;
  const copy = new Error(message);
  Object.setPrototypeOf(copy, Object.getPrototypeOf(error));
  for (const key of Reflect.ownKeys(error)) {
    if (key === "message" || key === "stack") continue;
    const desc = Object.getOwnPropertyDescriptor(error, key)!;
    if (changes.has(key)) desc.value = changes.get(key);
    Object.defineProperty(copy, key, desc);
  }
  // The name may live on the prototype as a getter that only works on the
  // real class (DOMException): keep it as an own property.
  if (!Object.hasOwn(copy, "name")) {
    Object.defineProperty(copy, "name", {
      value: error.name,
      writable: true,
      configurable: true,
      enumerable: false,
    });
  }
  Object.defineProperty(copy, "stack", {
    value: stack,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  return copy as T;
}

/**
 * Makes a failing response report its URL redacted: an own `url` property
 * shadows `Response.prototype.url`. A response that cannot take one (frozen)
 * is copied, body and all.
 */
export function redactResponse(response: Response, params: RedactedParams): Response {
  const url = response.url;
  const redacted = redactText(url, params);
  if (redacted === url) return response;
  const target = Object.isExtensible(response) ? response : new Response(response.body, response);
  Object.defineProperty(target, "url", { value: redacted, configurable: true });
  return target;
}
