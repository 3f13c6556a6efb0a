/**
 * "Full jitter" exponential backoff.
 *
 * @module
 */

import type { BackoffContext, BackoffStrategy } from "./strategy.ts";
import { knownKeys, numberAtLeast, objectValue } from "../core/validate.ts";
import { capOption, markFactory } from "./_options.ts";

/** Options of {@link fullJitter}. */
export interface FullJitterOptions {
  /** Upper bound of the first delay. A finite number >= 0. */
  baseMs: number;
  /** Cap on the upper bound. A number >= `baseMs` (`Infinity` allowed). Default `Infinity`. */
  maxMs?: number;
}

const KEYS: readonly string[] = ["baseMs", "maxMs"];

/**
 * Returns a "full jitter" strategy: the delay is drawn uniformly from zero up
 * to the capped exponential,
 *
 * `random(0, min(maxMs, baseMs * 2^(attempt - 1)))`,
 *
 * where `random(a, b) = a + r * (b - a)` and `r` comes from `ctx.random`.
 * Spreads retries of many clients the most; any single delay may be short.
 *
 * @example
 * ```ts
 * import { fullJitter } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = fullJitter({ baseMs: 100, maxMs: 1_000 });
 * // attempt 3: upper bound min(1000, 100 * 2^2) = 400; r = 0.5 gives 200
 * assert.equal(backoff({ attempt: 3, errorClass: "transient", random: () => 0.5 }), 200);
 * // attempt 10: the upper bound is capped at 1000
 * assert.equal(backoff({ attempt: 10, errorClass: "transient", random: () => 0.5 }), 500);
 * ```
 */
export function fullJitter(options: FullJitterOptions): BackoffStrategy {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  const baseMs = numberAtLeast("baseMs", options.baseMs, 0);
  const maxMs = capOption(options, baseMs);

  // "Full Jitter" from Marc Brooker, "Exponential Backoff And Jitter", AWS
  // Architecture Blog (2015): sleep = random_between(0, min(cap, base * 2^n)),
  // with n = attempt - 1 because our attempts are 1-based.
  return (ctx: BackoffContext): number => {
    // baseMs 0 stays 0 even once 2^(attempt - 1) overflows to Infinity.
    const ceiling = baseMs === 0 ? 0 : Math.min(maxMs, baseMs * 2 ** (ctx.attempt - 1));
    return ctx.random() * ceiling;
  };
}

markFactory(fullJitter, "{ ... }");
