/**
 * The rate limiter's options, and their validation.
 *
 * @module
 */

import { type Clock, clockOption } from "../core/clock.ts";
import type { EventListener } from "../core/events.ts";
import {
  functionValue,
  integerBetween,
  knownKeys,
  nameOption,
  numberAbove,
  numberAtLeast,
  objectValue,
  optionalSignal,
  rangeError,
  typeError,
} from "../core/validate.ts";

/**
 * Options of {@link RateLimiter}.
 *
 * @example Ten calls a second, bursts of up to five, waits of up to 250 ms
 * ```ts
 * import { RateLimiter, type RateLimiterOptions } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const options: RateLimiterOptions = { name: "api", ratePerSecond: 10, burst: 5, maxWaitMs: 250 };
 * const limiter = new RateLimiter(options);
 * assert.equal(limiter.available, 5);
 * ```
 */
export interface RateLimiterOptions {
  /** Name used in errors and events. A non-empty string. Default `"rate-limiter"`. */
  name?: string;
  /** Tokens added per second, continuously. A finite number > 0. */
  ratePerSecond: number;
  /**
   * Most tokens the bucket holds, so the longest burst of calls without a
   * wait. An integer between 1 and 1,000,000. The bucket starts full.
   * Default `Math.max(1, Math.floor(ratePerSecond))` (at most 1,000,000).
   */
  burst?: number;
  /**
   * Longest {@link RateLimiter.acquire} waits for a token, in milliseconds.
   * A finite number >= 0. Default 0: take a token now or be refused.
   */
  maxWaitMs?: number;
  /** Where the time and the waits come from. Default {@link systemClock}. */
  clock?: Clock;
  /** Receives a `rate_limited` event each time `acquire()` refuses a call. */
  onEvent?: EventListener;
}

/**
 * Options of {@link RateLimiter.acquire}.
 *
 * @example Waiting for a token, but not past the call's deadline
 * ```ts
 * import { RateLimiter, type RateLimiterAcquireOptions } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const limiter = new RateLimiter({ ratePerSecond: 10, burst: 1, maxWaitMs: 1_000, clock });
 * const options: RateLimiterAcquireOptions = { deadline: 500, policy: "checkout" };
 * await limiter.acquire(options); // the token the bucket started with
 * const next = limiter.acquire(options); // due at 100 ms, before the deadline
 * await clock.advance(100);
 * await next;
 * assert.equal(clock.now(), 100);
 * ```
 */
export interface RateLimiterAcquireOptions {
  /**
   * Aborting it while the call waits rejects the wait at once with
   * `signal.reason` and gives the reserved token back; an already aborted
   * signal rejects before taking anything.
   */
  signal?: AbortSignal;
  /**
   * Absolute clock time (milliseconds) the call must not wait past: a wait
   * that would end at or after it is refused at once. Default: none.
   */
  deadline?: number;
  /**
   * Name put in the `RateLimitedError` and the `rate_limited` event (the
   * policy that asked). Default the limiter's name.
   */
  policy?: string;
}

/** Largest `burst`: a larger bucket is no limit (and a typo such as `1e9` should not pass for one). */
const MAX_BURST = 1_000_000;

const KEYS: readonly string[] = ["name", "ratePerSecond", "burst", "maxWaitMs", "clock", "onEvent"];
const ACQUIRE_KEYS: readonly string[] = ["signal", "deadline", "policy"];

/** Internal: the validated options of a rate limiter. */
export interface ResolvedRateLimiterOptions {
  /** Name used in errors and events. */
  name: string;
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Most tokens the bucket holds. */
  burst: number;
  /** Longest wait for a token, in milliseconds. */
  maxWaitMs: number;
  /** The clock. */
  clock: Clock;
  /** The first listener, if any. */
  onEvent: EventListener | undefined;
}

/**
 * Internal: validates a rate limiter's options; throws a `TypeError` or
 * `RangeError` naming the first bad option and its value.
 */
export function resolveRateLimiterOptions(options: RateLimiterOptions): ResolvedRateLimiterOptions {
  objectValue("options", options);
  knownKeys("", options, KEYS);
  const name = nameOption("name", options.name, "rate-limiter");
  const ratePerSecond = numberAbove("ratePerSecond", options.ratePerSecond, 0);
  const burst = options.burst === undefined
    ? Math.min(MAX_BURST, Math.max(1, Math.floor(ratePerSecond)))
    : integerBetween("burst", options.burst, 1, MAX_BURST);
  const maxWaitMs = numberAtLeast("maxWaitMs", options.maxWaitMs ?? 0, 0);
  const clock = clockOption(options.clock, ["now", "sleep"], "a Clock (now, sleep)");
  const onEvent = options.onEvent === undefined
    ? undefined
    : functionValue("onEvent", options.onEvent);
  return { name, ratePerSecond, burst, maxWaitMs, clock, onEvent };
}

/** Internal: the validated options of one `acquire()`. */
export interface ResolvedAcquireOptions {
  /** The caller's signal, if any. */
  signal: AbortSignal | undefined;
  /** The deadline (`Infinity` for none). */
  deadline: number;
  /** Name put in the error and the event. */
  policy: string;
}

/**
 * Internal: validates the options of `acquire()`; `fallbackName` is the
 * limiter's name. Throws like {@link resolveRateLimiterOptions}.
 */
export function resolveAcquireOptions(
  options: RateLimiterAcquireOptions,
  fallbackName: string,
): ResolvedAcquireOptions {
  objectValue("options", options);
  knownKeys("", options, ACQUIRE_KEYS);
  const signal = optionalSignal("signal", options.signal);
  const deadline = options.deadline ?? Infinity;
  if (typeof deadline !== "number") {
    typeError("deadline", "a number (clock milliseconds)", deadline);
  }
  if (Number.isNaN(deadline)) rangeError("deadline", "a number (clock milliseconds)", deadline);
  const policy = nameOption("policy", options.policy, fallbackName);
  return { signal, deadline, policy };
}
