/**
 * Running one call through a circuit breaker (`CircuitBreaker.execute`):
 * the context the call receives, the rejection error, and the settling of
 * an admitted call into `recordSuccess` / `recordFailure` / `releaseCall`.
 * The breaker decides; this file only adapts a function call to it.
 *
 * @module
 */

import { SignalContext } from "../core/signal_context.ts";
import type { Clock } from "../core/clock.ts";
import { CircuitOpenError } from "../core/errors.ts";
import type { CircuitState } from "../core/events.ts";
import { functionValue, objectValue, optionalSignal } from "../core/validate.ts";

/**
 * What {@link CircuitBreaker.execute} passes to the function it runs. It has
 * the `signal` of the context a policy passes to its operation, so one
 * function can run under either. An abort of the caller's signal reaches
 * the call, which is then released (not counted as a failure).
 *
 * @example Passing the caller's signal on
 * ```ts
 * import { CircuitBreaker, policy } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const controller = new AbortController();
 * // one function for a breaker and a policy: both pass { signal, ... }
 * const load = ({ signal }: { signal: AbortSignal }) => {
 *   assert.equal(signal.aborted, false);
 *   return "loaded";
 * };
 * const breaker = new CircuitBreaker({ kind: "consecutive", threshold: 5 });
 * assert.equal(await breaker.execute(load, { signal: controller.signal }), "loaded");
 * const api = policy("api", { telemetry: false });
 * assert.equal(await api.execute(load, { signal: controller.signal }), "loaded");
 * // without options.signal, a signal that never aborts
 * assert.equal(await breaker.execute(({ signal }) => signal.aborted), false);
 *
 * const call = breaker.execute(
 *   ({ signal }) =>
 *     new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
 *   { signal: controller.signal },
 * );
 * controller.abort(new Error("caller went away"));
 * await assert.rejects(call, /caller went away/);
 * assert.equal(breaker.stats().failures, 0); // released, not counted
 * ```
 */
export interface BreakerCallContext {
  /**
   * The caller's `options.signal`; without one, a signal that never aborts
   * (made on first read). Pass it to `fetch` and friends.
   */
  readonly signal: AbortSignal;
}

/** Options of {@link CircuitBreaker.execute}. */
export interface CircuitExecuteOptions {
  /**
   * Passed to `fn`. If it is already aborted the call is not made; if `fn`
   * throws once it has aborted, the call is released without an outcome.
   */
  signal?: AbortSignal;
}

/** What {@link settle} records an admitted call's outcome into. */
export interface OutcomeSink {
  recordSuccess(durationMs?: number): void;
  recordFailure(durationMs?: number): void;
  releaseCall(): void;
}

/**
 * Validates `execute()`'s arguments and returns the caller's signal; throws
 * its reason if it has already aborted.
 */
export function callSignal(fn: unknown, options: CircuitExecuteOptions): AbortSignal | undefined {
  functionValue("fn", fn);
  const signal = optionalSignal("signal", objectValue("options", options).signal);
  signal?.throwIfAborted();
  return signal;
}

/** The error of a call the breaker refused, in `state`, for `retryAfterMs`. */
export function openError(
  name: string,
  state: CircuitState,
  retryAfterMs: number,
): CircuitOpenError {
  const detail = state === "isolated"
    ? "is isolated"
    : state === "half_open"
    ? `is half_open with every probe slot taken; retry after ${retryAfterMs} ms`
    : `is open; retry after ${retryAfterMs} ms`;
  return new CircuitOpenError(`circuit "${name}" ${detail}`, { retryAfterMs, policy: name });
}

/**
 * Runs an admitted call and records its outcome in `breaker`: a value is a
 * success, a throw a failure (rethrown unchanged), or a release when
 * `signal` has aborted by then. Timed on `clock` when one is given (slow-call
 * detection on).
 */
export async function settle<T>(
  breaker: OutcomeSink,
  fn: (context: BreakerCallContext) => Promise<T> | T,
  signal: AbortSignal | undefined,
  clock: Clock | undefined,
): Promise<T> {
  const start = clock === undefined ? 0 : clock.now();
  let value: T;
  try {
    value = await fn(new SignalContext(signal));
  } catch (error) {
    if (signal?.aborted) breaker.releaseCall();
    else breaker.recordFailure(clock === undefined ? undefined : clock.now() - start);
    throw error;
  }
  breaker.recordSuccess(clock === undefined ? undefined : clock.now() - start);
  return value;
}
