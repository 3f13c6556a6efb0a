/**
 * `retry()`: a one-call shortcut for the retry loop without a named policy.
 *
 * @module
 */

import { knownKeys, nameOption, objectValue, typeError } from "../core/validate.ts";
import type { Operation } from "../engine/attempt.ts";
import { Engine, type EngineOptions } from "../engine/engine.ts";
import { RETRY_OPTION_KEYS, type RetryOptions } from "./retry_options.ts";
import { RetryBudget } from "../budget/retry_budget.ts";

/** Options of {@link retry}: the `retry` block plus deadline, timeout, signal, clock and events. */
export interface RetryCallOptions extends RetryOptions, EngineOptions {
  /** A retry budget shared across calls (a per-call budget would never say no). */
  retryBudget?: RetryBudget;
  /** Name used in events and errors. Default `"retry"`. */
  name?: string;
  /** Aborts the call. */
  signal?: AbortSignal;
}

const ENGINE_KEYS = [
  "name",
  "signal",
  "deadlineMs",
  "attemptTimeoutMs",
  "classify",
  "onEvent",
  "clock",
  "random",
];

/**
 * Runs `fn` with retries once, without creating a named policy. Takes the
 * options of a policy's `retry` block plus `deadlineMs`, `attemptTimeoutMs`,
 * `signal`, `clock` and `onEvent`. Defaults match the `retry` block's (three
 * attempts, decorrelated jitter).
 *
 * @example
 * ```ts
 * import { constant, retry, TransientError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * let calls = 0;
 * const value = await retry(() => {
 *   calls++;
 *   if (calls === 1) throw new TransientError("first call fails");
 *   return "ok";
 * }, { maxAttempts: 3, backoff: constant(0) });
 * assert.equal(value, "ok");
 * assert.equal(calls, 2);
 * ```
 */
export function retry<T>(fn: Operation<T>, options: RetryCallOptions = {}): Promise<T> {
  objectValue("options", options);
  knownKeys("", options, [...ENGINE_KEYS, ...RETRY_OPTION_KEYS]);
  const retryOptions: RetryOptions & { retryBudget?: unknown } = {};
  const engineOptions: EngineOptions = {};
  for (const key of RETRY_OPTION_KEYS) {
    const value = options[key as keyof RetryCallOptions];
    if (value !== undefined) (retryOptions as Record<string, unknown>)[key] = value;
  }
  for (const key of ENGINE_KEYS) {
    const value = options[key as keyof RetryCallOptions];
    if (value !== undefined) (engineOptions as Record<string, unknown>)[key] = value;
  }
  const name = nameOption("name", options.name, "retry");
  const { retryBudget, ...loopOptions } = retryOptions;
  if (retryBudget !== undefined && !(retryBudget instanceof RetryBudget)) {
    typeError("retryBudget", "a RetryBudget shared across calls", retryBudget);
  }
  const engine = new Engine(name, engineOptions, loopOptions, "", {
    retryBudget: retryBudget as RetryBudget | undefined,
  });
  return engine.run(fn, { signal: options.signal });
}
