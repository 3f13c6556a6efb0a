/**
 * `policy()`: the composition users call.
 *
 * @module
 */

import { knownKeys, objectValue, typeError } from "../core/validate.ts";
import { OtelObserver } from "../telemetry/otel_observer.ts";
import {
  SPAN_MODES,
  TELEMETRY_OPTION_KEYS,
  type TelemetryOptions,
} from "../telemetry/telemetry_options.ts";
import type { Operation } from "../retry/attempt_context.ts";
import type { RetryOptions } from "../retry/retry_options.ts";
import { type EngineOptions, type ExecuteOptions, RetryEngine } from "../retry/retry_engine.ts";

/** Options of {@link policy}. */
export interface PolicyOptions extends EngineOptions {
  /**
   * Retry behaviour. Without it a policy makes one attempt (it still applies
   * the deadline, the attempt timeout and classification).
   */
  retry?: RetryOptions;
  /** OpenTelemetry settings; `false` turns telemetry off. Default on. */
  telemetry?: TelemetryOptions | false;
}

const POLICY_OPTION_KEYS = [
  "deadlineMs",
  "attemptTimeoutMs",
  "retry",
  "classify",
  "onEvent",
  "telemetry",
  "clock",
  "random",
];

function validateTelemetry(telemetry: TelemetryOptions): void {
  objectValue("telemetry", telemetry);
  knownKeys("telemetry", telemetry, TELEMETRY_OPTION_KEYS);
  if (telemetry.spans !== undefined && !SPAN_MODES.includes(telemetry.spans)) {
    typeError("telemetry.spans", '"full", "failures" or "off"', telemetry.spans);
  }
  for (const [key, method] of [["tracerProvider", "getTracer"], ["meterProvider", "getMeter"]]) {
    const provider = (telemetry as Record<string, unknown>)[key];
    if (
      provider !== undefined &&
      (typeof provider !== "object" || provider === null ||
        typeof (provider as Record<string, unknown>)[method] !== "function")
    ) {
      typeError(`telemetry.${key}`, `an object with ${method}()`, provider);
    }
  }
}

/**
 * A named, reusable resilience policy. Create one per downstream dependency
 * and share it across calls; it holds no per-call state.
 */
export class Policy {
  /** The policy's name, used in events, errors and telemetry. */
  readonly name: string;
  readonly #engine: RetryEngine;

  /** Validates `options`; prefer {@link policy}. */
  constructor(name: string, options: PolicyOptions = {}) {
    if (typeof name !== "string" || name.trim() === "") {
      typeError("name", "a non-empty string", name);
    }
    objectValue("options", options);
    knownKeys("", options, POLICY_OPTION_KEYS);
    const telemetry = options.telemetry ?? {};
    let observer: OtelObserver | undefined;
    if (telemetry !== false) {
      validateTelemetry(telemetry);
      observer = new OtelObserver(name, telemetry);
    }
    this.name = name;
    this.#engine = new RetryEngine(name, options, options.retry, "retry", { observer });
  }

  /**
   * Runs `fn` under the policy. `fn` receives `{ signal, attempt, deadline }`
   * and should pass `signal` on to whatever it awaits.
   *
   * Resolves with `fn`'s value. Rejects with the original error for a
   * permanent failure (or resolves with a permanent failing value, such as a
   * 404 `Response`), `RetryExhaustedError` when a retry limit is reached,
   * `DeadlineExceededError` at the deadline, and `signal.reason` when the
   * caller aborts.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions): Promise<T> {
    return this.#engine.run(fn, options);
  }
}

/**
 * Creates a {@link Policy}: a deadline across all attempts and sleeps, a
 * per-attempt timeout, and retries with error classification, per-class
 * budgets and backoff.
 *
 * @example Retrying a flaky operation in virtual time
 * ```ts
 * import { constant, policy, TransientError } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const payments = policy("payments", {
 *   clock,
 *   telemetry: false,
 *   deadlineMs: 2_000,
 *   retry: { maxAttempts: 5, budgets: { transient: 4 }, backoff: constant(100) },
 * });
 * let calls = 0;
 * const result = payments.execute(() => {
 *   calls++;
 *   return calls < 3 ? Promise.reject(new TransientError("blip")) : Promise.resolve("paid");
 * });
 * await clock.runAll();
 * assert.equal(await result, "paid");
 * assert.equal(calls, 3);
 * assert.equal(clock.now(), 200);
 * ```
 */
export function policy(name: string, options: PolicyOptions = {}): Policy {
  return new Policy(name, options);
}
