/**
 * `faultInjection()`: wraps any async function so that a chosen share of
 * its calls are slowed down or fail, for chaos testing of the code around it.
 *
 * @module
 */

import { InjectedFaultError } from "../core/errors.ts";
import { typeError } from "../core/validate.ts";
import {
  COMMON_FAULT_KEYS,
  type CommonFaultOptions,
  drawDelay,
  emitFault,
  rate,
  resolveCommon,
} from "./options.ts";

/**
 * Options of {@link faultInjection}.
 *
 * For each call made while `enabled`, all random draws happen when the call
 * is made:
 *
 * 1. with probability `injectionRate` the call is *selected*; an unselected
 *    call runs `fn` untouched;
 * 2. a selected call waits `latencyMs + random(0, jitterMs)` on `clock`;
 * 3. then, with probability `errorRate`, it rejects with `error` and `fn`
 *    is never called; otherwise `fn` runs.
 *
 * So over many calls the share that is delayed is `injectionRate` (when
 * there is latency to add) and the share that fails is
 * `injectionRate * errorRate`.
 */
export interface FaultInjectionOptions extends CommonFaultOptions {
  /** Probability that a call is selected for injection at all. Default 1. */
  injectionRate?: number;
  /** Probability that a selected call fails instead of running `fn`. Default 0. */
  errorRate?: number;
  /**
   * What an injected failure throws: an `Error` (thrown as it is, every
   * time) or a function called for each failure that returns the value to
   * throw. Default: a new `InjectedFaultError` each time, which
   * `defaultClassifier` calls `transient`.
   */
  error?: Error | (() => unknown);
}

const INJECTION_KEYS: readonly string[] = [
  ...COMMON_FAULT_KEYS,
  "injectionRate",
  "errorRate",
  "error",
];

/**
 * The signal the injected latency listens to: the first argument that is an
 * `AbortSignal` or an object whose `signal` property is one (a policy's
 * attempt context, a `RequestInit`, a `Request`).
 */
function signalOf(args: readonly unknown[]): AbortSignal | undefined {
  for (const arg of args) {
    if (arg instanceof AbortSignal) return arg;
    if (typeof arg === "object" && arg !== null) {
      const signal = (arg as { signal?: unknown }).signal;
      if (signal instanceof AbortSignal) return signal;
    }
  }
  return undefined;
}

/**
 * Wraps `fn` so that calls are delayed and fail as described in
 * {@link FaultInjectionOptions}. The wrapper takes the same arguments and
 * `this`, and always returns a promise. Injected latency is abortable: it
 * rejects with the reason as soon as the signal found in the arguments (an
 * `AbortSignal`, or an object with a `signal` such as a policy's attempt
 * context) aborts. Every injection is reported as a `fault_injected` event
 * (`fault: "latency"` with `delayMs`, or `"error"`).
 *
 * @example One call in ten fails; turn it off at runtime
 * ```ts
 * import { faultInjection, InjectedFaultError, seededRandom } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * let chaos = true;
 * const lookup = faultInjection(
 *   (id: number) => Promise.resolve(`user ${id}`),
 *   { errorRate: 0.1, enabled: () => chaos, random: seededRandom(7) },
 * );
 * let failures = 0;
 * for (let i = 0; i < 1_000; i++) {
 *   await lookup(i).catch((e) => {
 *     assert.ok(e instanceof InjectedFaultError);
 *     failures++;
 *   });
 * }
 * assert.ok(failures > 50 && failures < 150);
 * chaos = false;
 * assert.equal(await lookup(1), "user 1");
 * ```
 */
export function faultInjection<F extends (...args: never[]) => unknown>(
  fn: F,
  options: FaultInjectionOptions = {},
): (this: ThisParameterType<F>, ...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>> {
  if (typeof fn !== "function") typeError("fn", "a function", fn);
  const common = resolveCommon(options, INJECTION_KEYS);
  const injectionRate = rate("injectionRate", options.injectionRate, 1);
  const errorRate = rate("errorRate", options.errorRate, 0);
  const error = options.error;
  if (error !== undefined && !(error instanceof Error) && typeof error !== "function") {
    typeError("error", "an Error or a function returning the value to throw", error);
  }
  const makeError = (): unknown =>
    error === undefined
      ? new InjectedFaultError(`injected fault ("${common.name}")`, { policy: common.name })
      : typeof error === "function"
      ? error()
      : error;

  return async function (
    this: ThisParameterType<F>,
    ...args: Parameters<F>
  ): Promise<Awaited<ReturnType<F>>> {
    if (common.enabled() && common.random() < injectionRate) {
      const delayMs = drawDelay(common);
      const fail = common.random() < errorRate;
      if (delayMs > 0) {
        emitFault(common, "latency", delayMs);
        await common.clock.sleep(delayMs, signalOf(args));
      }
      if (fail) {
        emitFault(common, "error");
        throw makeError();
      }
    }
    return await (fn.apply(this, args) as Awaited<ReturnType<F>>);
  };
}
