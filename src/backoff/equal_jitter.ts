/**
 * "Equal jitter" exponential backoff.
 *
 * @module
 */

import type { BackoffContext, BackoffStrategy } from "./strategy.ts";
import { knownKeys, numberAtLeast, objectValue } from "../core/validate.ts";
import { capOption, markFactory } from "./_options.ts";

/** Options of {@link equalJitter}. */
export interface EqualJitterOptions {
  /** Upper bound of the first delay. A finite number >= 0. */
  baseMs: number;
  /** Cap on the upper bound. A number >= `baseMs` (`Infinity` allowed). Default `Infinity`. */
  maxMs?: number;
}

const KEYS: readonly string[] = ["baseMs", "maxMs"];

/**
 * Returns an "equal jitter" strategy: half of the capped exponential is kept
 * and the other half is random,
 *
 * `t = min(maxMs, baseMs * 2^(attempt - 1))`, delay `= t/2 + random(0, t/2)`,
 *
 * where `random(a, b) = a + r * (b - a)` and `r` comes from `ctx.random`.
 * Never waits less than half the exponential delay.
 *
 * @example
 * ```ts
 * import { equalJitter } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = equalJitter({ baseMs: 100, maxMs: 1_000 });
 * // attempt 3: t = 400, so the delay is 200 + r * 200
 * assert.equal(backoff({ attempt: 3, errorClass: "transient", random: () => 0 }), 200);
 * assert.equal(backoff({ attempt: 3, errorClass: "transient", random: () => 0.5 }), 300);
 * ```
 */
export function equalJitter(options: EqualJitterOptions): BackoffStrategy {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  const baseMs = numberAtLeast("baseMs", options.baseMs, 0);
  const maxMs = capOption(options, baseMs);

  // "Equal Jitter" from Marc Brooker, "Exponential Backoff And Jitter", AWS
  // Architecture Blog (2015): temp = min(cap, base * 2^n);
  // sleep = temp / 2 + random_between(0, temp / 2), with n = attempt - 1.
  return (ctx: BackoffContext): number => {
    // baseMs 0 stays 0 even once 2^(attempt - 1) overflows to Infinity.
    const half = baseMs === 0 ? 0 : Math.min(maxMs, baseMs * 2 ** (ctx.attempt - 1)) / 2;
    return half + ctx.random() * half;
  };
}

markFactory(equalJitter, "{ ... }");
