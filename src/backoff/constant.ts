/**
 * The constant backoff: the same delay before every retry.
 *
 * @module
 */

import type { BackoffStrategy } from "./strategy.ts";
import { numberAtLeast } from "../core/validate.ts";
import { markFactory } from "./_options.ts";

/**
 * Returns a strategy that waits `ms` milliseconds before every retry,
 * whatever the attempt, the failure class or the previous delay. `ms` must be
 * a finite number >= 0; `constant(0)` retries at once.
 *
 * @example
 * ```ts
 * import { constant } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = constant(250);
 * assert.equal(backoff({ attempt: 1, errorClass: "transient", random: Math.random }), 250);
 * assert.equal(backoff({ attempt: 7, errorClass: "flaky", random: Math.random }), 250);
 * assert.throws(() => constant(-1), RangeError);
 * ```
 */
export function constant(ms: number): BackoffStrategy {
  const delayMs = numberAtLeast("ms", ms, 0);
  return () => delayMs;
}

markFactory(constant, "ms");
