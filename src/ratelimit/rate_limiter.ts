/**
 * The rate limiter: a token bucket with FIFO waits by reservation.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import { RateLimitedError } from "../core/errors.ts";
import { EventSink } from "../core/events.ts";
import {
  type RateLimiterAcquireOptions,
  type RateLimiterOptions,
  resolveAcquireOptions,
  resolveRateLimiterOptions,
} from "./options.ts";

export type { RateLimiterAcquireOptions, RateLimiterOptions } from "./options.ts";

/**
 * Slack for floating-point sums such as `0.1 + 0.2` (= 0.30000000000000004):
 * a token count this close to a whole number is that number, so a bucket
 * that is full on paper grants its last token.
 */
const EPSILON = 1e-9;

/** The same slack for a wait in milliseconds, before it is rounded up. */
const EPSILON_MS = 1e-6;

/** What `acquire()` returns when a token is free: one settled promise, shared. */
const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Limits how often calls start: a token bucket that refills continuously at
 * `ratePerSecond` up to `burst` tokens, one token per call. It starts full,
 * so up to `burst` calls go at once, then one every `1000 / ratePerSecond` ms.
 *
 * - {@link RateLimiter.tryAcquire} takes a token if one is free, never waits.
 * - {@link RateLimiter.acquire} takes one, waiting up to `maxWaitMs` (and
 *   never to the call's `deadline`) when none is free; a call that would
 *   wait longer is refused at once with `RateLimitedError` (its
 *   `retryAfterMs` says when a token would be free for it) and a
 *   `rate_limited` event.
 *
 * Waits are first come, first served: a waiting call reserves its token at
 * once (the count goes below zero), so each later call waits one interval
 * more and `tryAcquire()` cannot take a reserved token. An aborted wait gives
 * its token back, which shortens the wait of the calls that come after it.
 * Tokens are computed from the clock when asked: nothing runs while nobody
 * waits, and a waiting call sleeps on the clock. A clock that steps back
 * adds no tokens: the refill goes on from the new, earlier reading.
 *
 * Share one instance between the policies that call the same dependency:
 * they then draw from one bucket.
 *
 * @example
 * ```ts
 * import { RateLimitedError, RateLimiter } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const limiter = new RateLimiter({ name: "api", ratePerSecond: 10, burst: 2, clock });
 * await limiter.acquire();
 * await limiter.acquire();
 * await assert.rejects(
 *   limiter.acquire(),
 *   (e) => e instanceof RateLimitedError && e.retryAfterMs === 100,
 * );
 * await clock.advance(100);
 * assert.equal(limiter.tryAcquire(), true);
 * ```
 */
export class RateLimiter {
  /** Tokens now, as of `#last`; below zero while calls wait (their reservations). */
  #tokens: number;
  /** Clock reading the count is as of. */
  #last: number;
  /** Name used in errors and events. */
  readonly name: string;
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Most tokens the bucket holds. */
  readonly burst: number;
  /** Longest {@link RateLimiter.acquire} waits for a token, in milliseconds. */
  readonly maxWaitMs: number;
  /** Receives this limiter's events; `onEvent` is its first listener. */
  readonly events: EventSink;
  readonly #clock: Clock;

  /** Creates a full bucket. Throws a `TypeError` or `RangeError` on invalid options. */
  constructor(options: RateLimiterOptions) {
    const resolved = resolveRateLimiterOptions(options);
    this.name = resolved.name;
    this.ratePerSecond = resolved.ratePerSecond;
    this.burst = resolved.burst;
    this.maxWaitMs = resolved.maxWaitMs;
    this.events = new EventSink();
    if (resolved.onEvent !== undefined) this.events.add(resolved.onEvent);
    this.#clock = resolved.clock;
    this.#tokens = this.burst;
    this.#last = this.#clock.now();
  }

  /**
   * Whole tokens free now, between 0 and `burst` (0 while calls wait).
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@bulwark/bulwark";
   * import { VirtualClock } from "@bulwark/bulwark/testing";
   * import assert from "node:assert/strict";
   *
   * const clock = new VirtualClock();
   * const limiter = new RateLimiter({ ratePerSecond: 4, clock });
   * assert.equal(limiter.available, 4);
   * limiter.tryAcquire();
   * assert.equal(limiter.available, 3);
   * await clock.advance(60_000);
   * assert.equal(limiter.available, 4); // never more than burst
   * ```
   */
  get available(): number {
    const tokens = this.#refill(this.#clock.now());
    return tokens >= 1 ? Math.floor(tokens) : 0;
  }

  /**
   * Takes a token if one is free now and returns whether it did. Never
   * waits, reports nothing and allocates nothing.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const limiter = new RateLimiter({ ratePerSecond: 1 });
   * assert.equal(limiter.tryAcquire(), true);
   * assert.equal(limiter.tryAcquire(), false);
   * ```
   */
  tryAcquire(): boolean {
    if (this.#refill(this.#clock.now()) < 1) return false;
    this.#tokens--;
    return true;
  }

  /**
   * Takes a token: at once (a settled promise) when one is free, otherwise
   * after a wait of at most `maxWaitMs` that ends before `options.deadline`.
   * A call that would wait longer is refused at once: it rejects with a
   * `RateLimitedError` whose `retryAfterMs` is the wait it would have needed
   * (rounded up to a whole millisecond), and a `rate_limited` event is
   * reported. Aborting `options.signal` ends the wait with `signal.reason`
   * and gives the token back. Invalid options reject with a `TypeError` or
   * `RangeError`.
   *
   * @example Waiting for a token, first come first served
   * ```ts
   * import { RateLimiter } from "@bulwark/bulwark";
   * import { VirtualClock } from "@bulwark/bulwark/testing";
   * import assert from "node:assert/strict";
   *
   * const clock = new VirtualClock();
   * const limiter = new RateLimiter({ ratePerSecond: 10, burst: 1, maxWaitMs: 500, clock });
   * const times: number[] = [];
   * const calls = [1, 2, 3].map(() => limiter.acquire().then(() => times.push(clock.now())));
   * await clock.advance(500);
   * await Promise.all(calls);
   * assert.deepEqual(times, [0, 100, 200]);
   * ```
   */
  acquire(options?: RateLimiterAcquireOptions): Promise<void> {
    let signal: AbortSignal | undefined;
    let deadline = Infinity;
    let policy = this.name;
    if (options !== undefined) {
      try {
        ({ signal, deadline, policy } = resolveAcquireOptions(options, this.name));
      } catch (error) {
        return Promise.reject(error);
      }
      if (signal?.aborted) return Promise.reject(signal.reason);
    }
    const now = this.#clock.now();
    const tokens = this.#refill(now);
    if (tokens >= 1) {
      this.#tokens = tokens - 1;
      return RESOLVED;
    }
    const waitMs = this.#msFor(1 - tokens);
    const late = waitMs - EPSILON_MS > this.maxWaitMs;
    if (late || now + waitMs >= deadline) {
      return Promise.reject(this.#refuse(policy, now, waitMs, late));
    }
    this.#tokens = tokens - 1; // the reservation
    return this.#clock.sleep(waitMs, signal).then(undefined, (reason: unknown) => {
      this.#tokens = Math.min(this.burst, this.#refill(this.#clock.now()) + 1);
      throw reason;
    });
  }

  /**
   * Milliseconds until a token is free for a new caller, rounded up to a
   * whole millisecond: 0 when one is free now, longer while calls wait.
   *
   * @example
   * ```ts
   * import { RateLimiter } from "@bulwark/bulwark";
   * import { VirtualClock } from "@bulwark/bulwark/testing";
   * import assert from "node:assert/strict";
   *
   * const clock = new VirtualClock();
   * const limiter = new RateLimiter({ ratePerSecond: 4, burst: 1, clock });
   * assert.equal(limiter.retryAfterMs(), 0);
   * limiter.tryAcquire();
   * assert.equal(limiter.retryAfterMs(), 250);
   * await clock.advance(100);
   * assert.equal(limiter.retryAfterMs(), 150);
   * ```
   */
  retryAfterMs(): number {
    const tokens = this.#refill(this.#clock.now());
    return tokens >= 1 ? 0 : roundUp(this.#msFor(1 - tokens));
  }

  /**
   * Adds the tokens earned since the last reading (none when the clock has
   * not moved on or stepped back: then the count is as of `now`), up to
   * `burst`, and returns the count.
   */
  #refill(now: number): number {
    const elapsed = now - this.#last;
    if (!(elapsed > 0)) {
      if (elapsed < 0) this.#last = now;
      return this.#tokens;
    }
    this.#last = now;
    let tokens = this.#tokens + (elapsed * this.ratePerSecond) / 1000;
    if (tokens >= this.burst) {
      tokens = this.burst;
    } else {
      const whole = Math.round(tokens);
      if (Math.abs(tokens - whole) < EPSILON) tokens = whole;
    }
    return (this.#tokens = tokens);
  }

  /** Milliseconds the bucket takes to earn `tokens` tokens. */
  #msFor(tokens: number): number {
    return (tokens * 1000) / this.ratePerSecond;
  }

  /** Reports a refused call and builds its error. */
  #refuse(policy: string, now: number, waitMs: number, late: boolean): RateLimitedError {
    const retryAfterMs = roundUp(waitMs);
    if (this.events.active) {
      this.events.emit({ type: "rate_limited", policy, timestamp: now, retryAfterMs });
    }
    const reason = late ? `within maxWaitMs ${this.maxWaitMs}` : "before the deadline";
    return new RateLimitedError(
      `rate limiter "${this.name}" has no token ${reason} (next in ${retryAfterMs} ms)`,
      { policy, retryAfterMs },
    );
  }
}

/** Rounds a wait up to a whole millisecond, ignoring floating-point dust (100.00000000000001 is 100). */
function roundUp(ms: number): number {
  const whole = Math.ceil(ms - EPSILON_MS);
  return whole > 0 ? whole : 0;
}
