/**
 * Token-bucket backoff for rate limits.
 *
 * @module
 */

import type { BackoffContext, BackoffStrategy } from "./strategy.ts";
import {
  integerAtLeast,
  knownKeys,
  numberAbove,
  objectValue,
  typeError,
} from "../core/validate.ts";
import { markFactory } from "./_options.ts";

/** Options of {@link tokenBackoff}. */
export interface TokenBackoffOptions {
  /** Tokens added per second. A finite number > 0. */
  ratePerSecond: number;
  /** Bucket size, and the tokens it starts with. An integer >= 1. */
  burst: number;
}

const KEYS: readonly string[] = ["ratePerSecond", "burst"];

/**
 * Returns a token-bucket strategy, meant for the `rate_limit` class: retries
 * against one upstream are paced to `ratePerSecond`, with up to `burst` of
 * them allowed back to back.
 *
 * The bucket starts full with `burst` tokens and refills at `ratePerSecond`,
 * never above `burst`. Every call takes one token at `ctx.now`: if one is
 * available the delay is 0; otherwise the token is reserved (the count goes
 * negative) and the delay is the time until it refills. Reservations queue,
 * so with `ratePerSecond: 5, burst: 1` calls at the same instant get 0, 200,
 * 400, ... milliseconds.
 *
 * The returned strategy is stateful: share one per upstream (across the
 * policies calling it) and do not share it across unrelated upstreams.
 * `ctx.now` is required (the policy always passes the clock's time); a call
 * without a finite `now` throws a `TypeError`. A `now` earlier than the
 * previous call's adds no tokens.
 *
 * @example
 * ```ts
 * import { tokenBackoff } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const backoff = tokenBackoff({ ratePerSecond: 5, burst: 1 });
 * const at = (now: number) =>
 *   backoff({ attempt: 1, errorClass: "rate_limit", random: Math.random, now });
 * assert.deepEqual([at(0), at(0), at(0)], [0, 200, 400]);
 * // by 1 s the reservations are paid off and the bucket is full again
 * assert.equal(at(1_000), 0);
 * ```
 */
export function tokenBackoff(options: TokenBackoffOptions): BackoffStrategy {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  const ratePerSecond = numberAbove("ratePerSecond", options.ratePerSecond, 0);
  const burst = integerAtLeast("burst", options.burst, 1);
  let tokens = burst;
  // Time of the previous call. -Infinity before the first, so that the first
  // refill simply tops the (already full) bucket up to `burst`.
  let last = -Infinity;

  // The token bucket algorithm (see the Wikipedia article "Token bucket",
  // and RFC 2697, "A Single Rate Three Color Marker", for a metering use),
  // extended with debt: tokens may go negative, each unit of debt being one
  // reservation, so waiting callers are served in order.
  return (ctx: BackoffContext): number => {
    const now = ctx.now;
    if (typeof now !== "number" || !Number.isFinite(now)) {
      typeError("now", "a finite number (tokenBackoff needs the clock's time)", now);
    }
    if (now > last) {
      tokens = Math.min(burst, tokens + ((now - last) * ratePerSecond) / 1000);
      last = now;
    }
    tokens -= 1;
    return tokens >= 0 ? 0 : (-tokens * 1000) / ratePerSecond;
  };
}

markFactory(tokenBackoff, "{ ... }");
