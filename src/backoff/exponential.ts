/**
 * Exponential backoff with optional proportional jitter.
 *
 * @module
 */

import type { BackoffContext, BackoffStrategy } from "./strategy.ts";
import { knownKeys, numberAtLeast, numberBetween, objectValue } from "../core/validate.ts";
import { capOption, markFactory } from "./_options.ts";

/** Options of {@link exponential}. */
export interface ExponentialOptions {
  /** Delay after the first failed attempt, before jitter. A finite number >= 0. */
  baseMs: number;
  /**
   * Cap on the delay before jitter is added. A number >= `baseMs`
   * (`Infinity` allowed). Default `Infinity`.
   */
  maxMs?: number;
  /** Growth per attempt. A finite number >= 1. Default 2. */
  factor?: number;
  /**
   * Extra random delay, as a fraction of the capped delay: the strategy adds
   * up to `jitter * delay`. A number between 0 and 1. Default 0 (no jitter,
   * and `random` is never called).
   */
  jitter?: number;
}

const KEYS: readonly string[] = ["baseMs", "maxMs", "factor", "jitter"];

/**
 * Returns an exponential backoff strategy:
 *
 * `delay = min(baseMs * factor^(attempt - 1), maxMs)`, then
 * `delay + random(0, jitter * delay)`, where `random(a, b) = a + r * (b - a)`
 * and `r` comes from `ctx.random`.
 *
 * The cap applies before the jitter, so a jittered delay can reach
 * `maxMs * (1 + jitter)`. With `factor: 1` this is a constant delay with
 * jitter.
 *
 * Every option is checked here: a missing or non-numeric option throws a
 * `TypeError`, an out-of-range one a `RangeError`, and an unknown key (a
 * typo) a `TypeError`.
 *
 * @example Doubling from 100 ms, capped at 1 s
 * ```ts
 * import { exponential } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = exponential({ baseMs: 100, maxMs: 1_000 });
 * const delays = [1, 2, 3, 4, 5].map((attempt) =>
 *   backoff({ attempt, errorClass: "transient", random: Math.random })
 * );
 * assert.deepEqual(delays, [100, 200, 400, 800, 1_000]);
 * ```
 *
 * @example Tripling with up to 50% jitter
 * ```ts
 * import { exponential } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = exponential({ baseMs: 100, factor: 3, jitter: 0.5 });
 * // attempt 3: 100 * 3^2 = 900, plus 0.5 * (0.5 * 900) = 225
 * assert.equal(backoff({ attempt: 3, errorClass: "transient", random: () => 0.5 }), 1_125);
 * ```
 */
export function exponential(options: ExponentialOptions): BackoffStrategy {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  const baseMs = numberAtLeast("baseMs", options.baseMs, 0);
  const maxMs = capOption(options, baseMs);
  const factor = options.factor === undefined ? 2 : numberAtLeast("factor", options.factor, 1);
  const jitter = options.jitter === undefined ? 0 : numberBetween("jitter", options.jitter, 0, 1);

  // Exponential backoff in the classic form (binary exponential backoff,
  // Metcalfe & Boggs, "Ethernet: Distributed Packet Switching for Local
  // Computer Networks", CACM 1976), generalised to any factor >= 1 and with
  // the delay capped as in Marc Brooker's AWS Architecture Blog post
  // "Exponential Backoff And Jitter" (2015). The jitter term is the
  // contract's proportional jitter: random(0, jitter * delay).
  return (ctx: BackoffContext): number => {
    // baseMs 0 stays 0 even once factor^(attempt - 1) overflows to Infinity
    // (0 * Infinity would be NaN).
    const delay = baseMs === 0 ? 0 : Math.min(baseMs * factor ** (ctx.attempt - 1), maxMs);
    return jitter === 0 ? delay : delay + ctx.random() * (jitter * delay);
  };
}

markFactory(exponential, "{ ... }");
