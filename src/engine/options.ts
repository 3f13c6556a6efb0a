/**
 * The engine's options: what `policy()` and `retry()` configure once, the
 * parts a policy composes around the loop, and what `execute` takes per call.
 *
 * @module
 */

import type { Classifier } from "../core/error_class.ts";
import type { Clock } from "../core/clock.ts";
import type { EventListener } from "../core/events.ts";
import type { RandomSource } from "../core/random.ts";
import {
  functionValue,
  integerAtLeast,
  knownKeys,
  objectValue,
  optionalSignal,
  typeError,
} from "../core/validate.ts";
import type { HedgeDelay } from "./hedge_delay.ts";
import type {
  AttemptGate,
  CallObserver,
  CallOutcome,
  ConcurrencyGate,
  OutcomeRecorder,
  RetryGate,
  TokenGate,
} from "./parts.ts";

/** Options shared by `policy()` and `retry()` that drive the retry loop. */
export interface EngineOptions {
  /** One deadline across all attempts and sleeps, from the start of the call. */
  deadlineMs?: number;
  /** Timeout of each attempt. */
  attemptTimeoutMs?: number;
  /** Maps errors and returned values to classes. Default `defaultClassifier`. */
  classify?: Classifier;
  /** Receives every event synchronously; a listener that throws changes nothing. */
  onEvent?: EventListener;
  /** Time source. Default `systemClock`. */
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. Default `Math.random`. */
  random?: RandomSource;
}

/** The parts a policy composes around the retry loop, all optional. */
export interface EngineParts {
  /** Checked before every attempt; fed every attempt's outcome. */
  circuit?: AttemptGate;
  /** Fed every attempt's outcome; with `action: "reject"` fails calls fast while breached. */
  failureBudget?: OutcomeRecorder;
  /** One permit per call, acquired after the deadline starts and before the first attempt. */
  bulkhead?: ConcurrencyGate;
  /** Consulted before every retry and every hedge. */
  retryBudget?: RetryGate;
  /** One token per call, taken after the deadline starts and before the bulkhead. */
  rateLimiter?: TokenGate;
  /** Hedged attempts: when to start another attempt beside a slow one. */
  hedge?: HedgeDelay;
  /** Follows calls for telemetry. */
  observer?: CallObserver;
  /**
   * True when the policy built its circuit, failure budget, bulkhead and
   * rate limiter for itself (none is shared with another policy): their
   * events are then always its own, and an untraced call need not say it
   * caused them (see `Reporter.partEvent`).
   */
  ownsParts?: boolean;
}

/** Why a call gave up, as its `fallback` is told. */
export type FallbackReason = Exclude<CallOutcome, "success" | "cancelled">;

/** What a `fallback` is told besides the error. */
export interface FallbackInfo {
  /**
   * The call's outcome (`permanent_fail`, `max_attempts_exceeded`,
   * `deadline_exceeded`, `circuit_open`, `bulkhead_rejected`,
   * `rate_limited`, ...), as telemetry reports it.
   */
  readonly reason: FallbackReason;
  /** Attempts made before the call gave up (0 when none was). */
  readonly attempts: number;
}

/**
 * Per-call options of `execute`. Unknown keys are rejected with a
 * `TypeError`. `T` is the call's result type (what a `fallback` returns).
 */
export interface ExecuteOptions<T = unknown> {
  /** Aborts the call: sleeps, queue waits and the running attempt stop at once. */
  signal?: AbortSignal;
  /**
   * An absolute deadline (clock milliseconds) for this call, e.g. one
   * propagated from an incoming request. The earlier of this and the
   * policy's `deadlineMs` applies.
   */
  deadline?: number;
  /**
   * Caps this call's attempts below the policy's `maxAttempts` (1 = no
   * retry, e.g. for a non-idempotent request). The outcome is still recorded
   * by the circuit and the failure budget.
   */
  maxAttempts?: number;
  /**
   * Receives a failing value an attempt returned that will not be returned
   * to the caller (the policy retries instead, or the deadline ends the
   * call), so its resources can be freed: the HTTP client cancels the body
   * of a 503 it is about to retry. Not called for a value that ends up in
   * `RetryExhaustedError.lastResult` or is returned as a permanent failure.
   */
  discard?: (value: unknown) => void;
  /**
   * Runs when the call gives up for any reason except the caller's own
   * abort; the call then resolves with what it returns (or rejects with
   * what it throws). A call that returns a permanent failing value (a 404
   * `Response`) did not give up: it resolves with that value.
   */
  fallback?: (error: unknown, info: FallbackInfo) => T | PromiseLike<T>;
  /**
   * Joins a call with the same key already in flight on this policy: this
   * call settles with that call's value or error (single flight). The
   * shared call runs with the options of the caller that started it; each
   * joiner keeps its own `signal`, and the shared call is aborted only when
   * every caller has left.
   */
  coalesceKey?: string;
}

/** The keys of {@link ExecuteOptions}. */
export const EXECUTE_OPTION_KEYS: readonly string[] = Object.freeze([
  "signal",
  "deadline",
  "maxAttempts",
  "discard",
  "fallback",
  "coalesceKey",
]);

/**
 * Validates `execute`'s options (shape, unknown keys, each value) once per
 * call, before any attempt runs, and returns the call's own copy: a typo
 * such as `{ timeout: 100 }` is a `TypeError` naming it, never a silently
 * ignored key, and a caller that changes its options object later (for its
 * next call) does not change a call already running.
 */
export function checkExecuteOptions<T>(options: ExecuteOptions<T>): ExecuteOptions<T> {
  objectValue("options", options);
  knownKeys("", options, EXECUTE_OPTION_KEYS);
  const signal = optionalSignal("signal", options.signal);
  const deadline = options.deadline;
  if (deadline !== undefined && (typeof deadline !== "number" || Number.isNaN(deadline))) {
    typeError("deadline", "a number (clock milliseconds)", deadline);
  }
  const maxAttempts = options.maxAttempts;
  if (maxAttempts !== undefined) integerAtLeast("maxAttempts", maxAttempts, 1);
  const discard = options.discard;
  if (discard !== undefined) functionValue("discard", discard);
  const fallback = options.fallback;
  if (fallback !== undefined) functionValue("fallback", fallback);
  const coalesceKey = options.coalesceKey;
  if (coalesceKey !== undefined && typeof coalesceKey !== "string") {
    typeError("coalesceKey", "a string", coalesceKey);
  }
  return { signal, deadline, maxAttempts, discard, fallback, coalesceKey };
}
