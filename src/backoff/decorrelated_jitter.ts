/**
 * "Decorrelated jitter" backoff.
 *
 * @module
 */

import type { BackoffContext, BackoffStrategy } from "./strategy.ts";
import { knownKeys, numberAbove, objectValue } from "../core/validate.ts";
import { capOption, markFactory } from "./_options.ts";

/** Options of {@link decorrelatedJitter}. */
export interface DecorrelatedJitterOptions {
  /** The shortest delay. A finite number > 0. */
  baseMs: number;
  /** The longest delay. A number >= `baseMs` (`Infinity` allowed). Default `Infinity`. */
  maxMs?: number;
}

const KEYS: readonly string[] = ["baseMs", "maxMs"];

/**
 * Returns a "decorrelated jitter" strategy: each delay is drawn between
 * `baseMs` and three times the previous delay, then capped,
 *
 * `min(maxMs, random(baseMs, prev * 3))`,
 *
 * where `random(a, b) = a + r * (b - a)`, `r` comes from `ctx.random` and
 * `prev` is `ctx.prevDelayMs`. The first delay (no `prevDelayMs`) uses
 * `prev = baseMs`, so it lies in `[baseMs, min(maxMs, 3 * baseMs)]`; a
 * `prevDelayMs` below `baseMs` (say a `Retry-After: 0` that was honoured
 * instead) also counts as `baseMs`, so no delay is ever below `baseMs`.
 *
 * The strategy is stateless: the policy passes the delay it actually slept
 * as `prevDelayMs`, so one strategy can be shared by any number of policies
 * and concurrent calls.
 *
 * @example
 * ```ts
 * import { decorrelatedJitter } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = decorrelatedJitter({ baseMs: 100, maxMs: 1_000 });
 * // first delay: random(100, 300)
 * assert.equal(backoff({ attempt: 1, errorClass: "transient", random: () => 0.5 }), 200);
 * // next delay: random(100, 200 * 3) = 100 + 0.5 * 500
 * const ctx = { attempt: 2, prevDelayMs: 200, errorClass: "transient" as const };
 * assert.equal(backoff({ ...ctx, random: () => 0.5 }), 350);
 * // capped by maxMs
 * assert.equal(backoff({ ...ctx, prevDelayMs: 900, random: () => 0.5 }), 1_000);
 * ```
 */
export function decorrelatedJitter(options: DecorrelatedJitterOptions): BackoffStrategy {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  const baseMs = numberAbove("baseMs", options.baseMs, 0);
  const maxMs = capOption(options, baseMs);

  // "Decorrelated Jitter" from Marc Brooker, "Exponential Backoff And
  // Jitter", AWS Architecture Blog (2015):
  // sleep = min(cap, random_between(base, sleep * 3)), with sleep starting at
  // base. The previous sleep comes from ctx.prevDelayMs instead of a field,
  // which keeps the strategy stateless.
  return (ctx: BackoffContext): number => {
    const p = ctx.prevDelayMs;
    // `p > baseMs` is false for undefined and NaN, which fall back to baseMs.
    const prev = p !== undefined && p > baseMs ? p : baseMs;
    const delay = baseMs + ctx.random() * (prev * 3 - baseMs);
    // `delay < maxMs` is false for NaN (an infinite prev with r = 0): cap it.
    return delay < maxMs ? delay : maxMs;
  };
}

markFactory(decorrelatedJitter, "{ ... }");
