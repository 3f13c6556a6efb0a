/**
 * The classifier a policy uses unless told otherwise.
 *
 * @module
 */

import { AttemptTimeoutError, InjectedFaultError, PoolTimeoutError } from "../core/errors.ts";
import type { ErrorClass } from "../core/error_class.ts";
import { FlakyError, PermanentError, TransientError } from "./markers.ts";

/** Error names that mean "the network or the peer failed for now". */
const TRANSIENT_NAMES: ReadonlySet<string> = new Set([
  "TimeoutError",
  "ConnectionRefused",
  "ConnectionReset",
  "ConnectionAborted",
  "BrokenPipe",
]);

/** Node-style `.code` strings that mean the same. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
]);

/** How deep {@link defaultClassifier} follows a `TypeError`'s `cause` chain. */
const MAX_CAUSE_DEPTH = 4;

type AnyConstructor = abstract new (...args: never[]) => unknown;

/** The classes in `Deno.errors`, collected on first use; empty outside Deno. */
let denoErrorClasses: readonly AnyConstructor[] | undefined;

function getDenoErrorClasses(): readonly AnyConstructor[] {
  if (denoErrorClasses === undefined) {
    const found: AnyConstructor[] = [];
    if (typeof Deno !== "undefined" && typeof Deno.errors === "object" && Deno.errors !== null) {
      for (const value of Object.values(Deno.errors)) {
        if (typeof value === "function") found.push(value as AnyConstructor);
      }
    }
    denoErrorClasses = found;
  }
  return denoErrorClasses;
}

function isDenoError(error: Error): boolean {
  const classes = getDenoErrorClasses();
  for (let i = 0; i < classes.length; i++) {
    if (error instanceof classes[i]) return true;
  }
  return false;
}

/** Maps an HTTP-like status to a class; `undefined` outside 200..599. */
function classifyStatus(status: number): ErrorClass | "success" | undefined {
  if (!Number.isInteger(status) || status < 200 || status > 599) return undefined;
  if (status < 400) return "success";
  switch (status) {
    case 408:
    case 502:
    case 503:
    case 504:
      return "transient";
    case 429:
      return "rate_limit";
    case 409:
    case 423:
      return "concurrency";
  }
  return status >= 500 ? "server_error" : "permanent";
}

/** The messages fetch implementations give their network `TypeError`s. */
function isFetchNetworkMessage(message: string): boolean {
  return message === "fetch failed" ||
    message.startsWith("error sending request") ||
    message.startsWith("NetworkError") ||
    message.startsWith("Failed to fetch");
}

function isErrorResponse(value: object): boolean {
  return typeof Response !== "undefined" && value instanceof Response && value.type === "error";
}

function isErrorValue(value: object): value is Error {
  return value instanceof Error ||
    (typeof DOMException !== "undefined" && value instanceof DOMException);
}

/** Rules (c) and (d) for an error; `depth` bounds the walk down `cause`. */
function classifyError(error: Error, depth: number): ErrorClass {
  const name = error.name;
  if (typeof name === "string" && TRANSIENT_NAMES.has(name)) return "transient";
  if (isDenoError(error)) return "transient";
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && TRANSIENT_CODES.has(code)) return "transient";
  if (error instanceof TypeError) {
    const message = error.message;
    if (typeof message === "string" && isFetchNetworkMessage(message)) return "transient";
    const cause = error.cause;
    if (
      depth < MAX_CAUSE_DEPTH && typeof cause === "object" && cause !== null &&
      classifyValue(cause, depth + 1) === "transient"
    ) {
      return "transient";
    }
  }
  if (typeof name === "string" && name.includes("Flaky")) return "flaky";
  return "unknown";
}

function classifyValue(value: object, depth: number): ErrorClass | "success" {
  // (a) explicit markers and Bulwark's own errors.
  if (value instanceof TransientError) return "transient";
  if (value instanceof FlakyError) return "flaky";
  if (value instanceof PermanentError) return "permanent";
  if (value instanceof AttemptTimeoutError || value instanceof InjectedFaultError) {
    return "transient";
  }
  // A full local connection pool says nothing about the server, and retrying
  // into it only lengthens the queue: end the call.
  if (value instanceof PoolTimeoutError) return "permanent";

  // (b) numeric status: a Response, `.status`, or a numeric `.code`.
  const status = (value as { status?: unknown }).status;
  if (typeof status === "number") {
    const byStatus = classifyStatus(status);
    if (byStatus !== undefined) return byStatus;
    // `Response.error()`: a network error that fetch chose to resolve with.
    if (status === 0 && isErrorResponse(value)) return "transient";
  }
  const code = (value as { code?: unknown }).code;
  if (typeof code === "number") {
    const byCode = classifyStatus(code);
    if (byCode !== undefined) return byCode;
  }

  // (c) and (d): only errors are judged by name; other values are results.
  return isErrorValue(value) ? classifyError(value, depth) : "success";
}

/**
 * Classifies a thrown error, or a value an attempt returned, for the retry
 * engine. The first rule that matches wins:
 *
 * 1. Markers: {@link TransientError} is `"transient"`, {@link FlakyError}
 *    `"flaky"`, {@link PermanentError} `"permanent"` (subclasses included);
 *    Bulwark's own `AttemptTimeoutError` and `InjectedFaultError` are
 *    `"transient"`, its `PoolTimeoutError` (the client's local pool was full)
 *    `"permanent"`.
 * 2. A numeric status, read from a `Response`, from a numeric `status`
 *    property, or else from a numeric `code` property: 408, 502, 503 and 504
 *    are `"transient"`; 429 is `"rate_limit"`; 409 and 423 are
 *    `"concurrency"`; other 5xx are `"server_error"`; other 4xx are
 *    `"permanent"`; 2xx and 3xx are `"success"`. Numbers outside 200..599 do
 *    not decide; the next rules run. A `Response.error()` (status 0, type
 *    `"error"`) is `"transient"`.
 * 3. For errors only (`instanceof Error`, which includes `DOMException`):
 *    the names `TimeoutError` (so also the reason of `AbortSignal.timeout`),
 *    `ConnectionRefused`, `ConnectionReset`, `ConnectionAborted` and
 *    `BrokenPipe`, any instance of a `Deno.errors` class, the Node-style codes
 *    `ECONNREFUSED`, `ECONNRESET`, `ECONNABORTED`, `EPIPE`, `ETIMEDOUT`,
 *    `EAI_AGAIN`, `ENETUNREACH` and `EHOSTUNREACH`, and a network `TypeError`
 *    from `fetch` (message `"fetch failed"`, or starting with
 *    `"error sending request"`, `"NetworkError"` or `"Failed to fetch"`, or a
 *    `cause` that classifies `"transient"`) are all `"transient"`. A name
 *    containing `"Flaky"` is `"flaky"`.
 * 4. Any other error is `"unknown"`; any other value (`undefined`, strings,
 *    numbers, objects without a deciding status, a `Response` with status
 *    2xx/3xx) is `"success"`.
 *
 * A policy treats a *thrown* value that classifies as `"success"` (such as
 * `throw "oops"`) as `"unknown"`: throwing is never a success. Names and
 * codes are only read from errors, so a returned record that happens to have
 * a `name` such as `"Flaky Pastry"` stays a success.
 *
 * @param errorOrResult What the attempt threw or returned.
 * @returns The failure class, or `"success"`.
 *
 * @example Classifying errors and HTTP responses
 * ```ts
 * import { defaultClassifier, PermanentError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.equal(defaultClassifier(new Response(null, { status: 503 })), "transient");
 * assert.equal(defaultClassifier(new Response(null, { status: 429 })), "rate_limit");
 * assert.equal(defaultClassifier(new Response(null, { status: 404 })), "permanent");
 * assert.equal(defaultClassifier(new Response(null, { status: 200 })), "success");
 * assert.equal(defaultClassifier({ status: 409 }), "concurrency");
 * assert.equal(defaultClassifier(new Deno.errors.ConnectionReset("reset")), "transient");
 * assert.equal(defaultClassifier(new PermanentError("bad input")), "permanent");
 * assert.equal(defaultClassifier(new Error("who knows")), "unknown");
 * assert.equal(defaultClassifier({ rows: 3 }), "success");
 * ```
 */
export function defaultClassifier(errorOrResult: unknown): ErrorClass | "success" {
  if (typeof errorOrResult !== "object" || errorOrResult === null) return "success";
  return classifyValue(errorOrResult, 0);
}
