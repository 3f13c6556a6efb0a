/**
 * Reading the server's `Retry-After` hint from a response or an error.
 *
 * @module
 */

/** Delta-seconds: digits, optionally with a fraction (no sign, no exponent). */
const DELTA_SECONDS = /^\d+(?:\.\d+)?$/;
/** Every HTTP-date form names a month or a weekday; bare numbers are not dates. */
const HAS_LETTER = /[A-Za-z]/;

/** How deep {@link retryAfterMs} follows `.response` properties. */
const MAX_RESPONSE_DEPTH = 4;

/** Parses a `Retry-After` value into milliseconds from `now`. */
function parseRetryAfter(raw: string, now: number): number | undefined {
  const value = raw.trim();
  if (value === "") return undefined;
  if (DELTA_SECONDS.test(value)) {
    const ms = Math.round(Number(value) * 1000);
    return Number.isFinite(ms) ? ms : undefined;
  }
  if (!HAS_LETTER.test(value)) return undefined;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** Looks up `retry-after` in a plain header record, ignoring case. */
function recordHeader(headers: Record<string, unknown>): unknown {
  const direct = headers["retry-after"] ?? headers["Retry-After"];
  if (direct !== undefined) return direct;
  for (const key of Object.keys(headers)) {
    if (key.length === 11 && key.toLowerCase() === "retry-after") return headers[key];
  }
  return undefined;
}

/** The raw `Retry-After` value of a headers container, if any. */
function headerValue(headers: unknown): unknown {
  if (typeof headers !== "object" || headers === null) return undefined;
  if (typeof Headers !== "undefined" && headers instanceof Headers) {
    return headers.get("retry-after") ?? undefined;
  }
  return recordHeader(headers as Record<string, unknown>);
}

/** Turns a raw header value (string, number or list) into milliseconds. */
function fromHeader(raw: unknown, now: number): number | undefined {
  if (Array.isArray(raw)) raw = raw[0];
  if (typeof raw === "string") return parseRetryAfter(raw, now);
  if (typeof raw === "number" && Number.isFinite(raw) && raw >= 0) return Math.round(raw * 1000);
  return undefined;
}

function fromValue(value: unknown, now: number, depth: number): number | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const explicit = (value as { retryAfterMs?: unknown }).retryAfterMs;
  if (typeof explicit === "number" && Number.isFinite(explicit) && explicit >= 0) return explicit;
  const own = fromHeader(headerValue((value as { headers?: unknown }).headers), now);
  if (own !== undefined) return own;
  if (depth >= MAX_RESPONSE_DEPTH) return undefined;
  return fromValue((value as { response?: unknown }).response, now, depth + 1);
}

/**
 * How long the server asked the client to wait, in milliseconds, or
 * `undefined` when it gave no usable hint. Sources, first match wins:
 *
 * 1. an explicit numeric `retryAfterMs` property (finite, >= 0) on the value;
 * 2. a `Retry-After` header on the value's `headers`, a `Headers` instance
 *    (so any `Response`) or a plain record whose key is matched ignoring
 *    case (a list value uses its first entry; a number is delta-seconds);
 * 3. the same, on the value's `response` property (an error carrying the
 *    `Response` or response-like object that caused it).
 *
 * A header value is either delta-seconds (`"120"`, surrounding whitespace
 * allowed; a non-negative decimal such as `"1.5"` is accepted too), giving
 * seconds * 1000, or an HTTP-date (`"Wed, 21 Oct 2026 07:28:00 GMT"`),
 * giving `max(0, date - now)`. Negative, empty and unparseable values give
 * `undefined`.
 *
 * @param errorOrResult A `Response`, a response-like object, or an error.
 * @param now The current time, in epoch milliseconds.
 * @returns The wait in milliseconds, or `undefined`.
 *
 * @example Reading seconds and dates
 * ```ts
 * import { retryAfterMs } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const now = Date.parse("Wed, 21 Oct 2026 07:28:00 GMT");
 * const slowDown = new Response(null, { status: 429, headers: { "Retry-After": "2" } });
 * assert.equal(retryAfterMs(slowDown, now), 2_000);
 *
 * const later = { headers: { "retry-after": "Wed, 21 Oct 2026 07:28:30 GMT" } };
 * assert.equal(retryAfterMs(later, now), 30_000);
 *
 * assert.equal(retryAfterMs(new Response(null, { status: 503 }), now), undefined);
 * ```
 */
export function retryAfterMs(errorOrResult: unknown, now: number): number | undefined {
  return fromValue(errorOrResult, now, 0);
}
