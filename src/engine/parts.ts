/**
 * What the retry engine needs from the parts a policy composes around it.
 * These are structural interfaces so the engine does not depend on the
 * circuit, budget, bulkhead or telemetry folders; the concrete classes
 * satisfy them.
 *
 * @module
 */

import type { ErrorClass } from "../core/error_class.ts";
import type { Clock } from "../core/clock.ts";
import type { ResilienceEvent } from "../core/events.ts";

/** A circuit breaker as the engine sees it (checked before every attempt). */
export interface AttemptGate {
  readonly name: string;
  /** Set when the breaker detects slow calls, so attempt durations must be measured. */
  readonly slowCallMs: number | undefined;
  /** Admits the attempt (reserving a half-open probe) or refuses it. */
  allowCall(): boolean;
  /** Milliseconds until a refused call would be admitted. */
  readonly retryAfterMs: number;
  /** The attempt succeeded after `durationMs`. */
  recordSuccess(durationMs?: number): void;
  /** The attempt failed after `durationMs`. */
  recordFailure(durationMs?: number): void;
  /** The admitted attempt ended without an outcome (the caller aborted). */
  releaseCall(): void;
}

/** A failure budget as the engine sees it (fed every attempt's outcome). */
export interface OutcomeRecorder {
  readonly name: string;
  readonly action: "observe" | "reject";
  /** `at`: the attempt's time, already read by the engine (NaN when it read none). */
  record(failed: boolean, at?: number): void;
  isBreached(): boolean;
  failureRate(): number;
}

/** A bulkhead as the engine sees it (one permit per call). */
export interface ConcurrencyGate {
  readonly name: string;
  readonly inFlight: number;
  /** Calls waiting for a permit. */
  readonly queued: number;
  readonly maxConcurrent: number;
  /** A permit right away if one is free (no promise, no await). */
  tryAcquire(): { release(): void } | undefined;
  /** Takes a free permit without a permit object (the fast path); pair with `exit()`. */
  tryEnter(): boolean;
  /** Gives back a permit taken with `tryEnter()`. */
  exit(): void;
  acquire(options: { signal?: AbortSignal; timeoutMs?: number }): Promise<{ release(): void }>;
}

/** A retry budget as the engine sees it. */
export interface RetryGate {
  /** Counts a new call. */
  recordRequest(): void;
  /** Takes one retry from the budget, or says no. */
  tryRetry(): boolean;
}

/** A rate limiter as the engine sees it (one token per call). */
export interface TokenGate {
  /** Takes a token now if one is free (no promise, no wait). */
  tryAcquire(): boolean;
  /**
   * Takes a token, waiting up to the limiter's `maxWaitMs` and never past
   * `deadline`; rejects with `RateLimitedError` when it cannot.
   */
  acquire(options: { signal?: AbortSignal; deadline?: number; policy?: string }): Promise<void>;
}

/** How a call ended, as telemetry reports it (`bulwark.outcome`). */
export type CallOutcome =
  | "success"
  | "permanent_fail"
  | "deadline_exceeded"
  | "max_attempts_exceeded"
  | "max_unknown_attempts_exceeded"
  | "class_budget_exhausted"
  | "retry_budget_exhausted"
  | "circuit_open"
  | "bulkhead_rejected"
  | "failure_budget_exceeded"
  | "rate_limited"
  | "cancelled";

/**
 * Follows one call through its attempts (the telemetry layer implements it).
 * Every method is called synchronously from the engine; errors thrown by an
 * implementation are the implementation's bug and are not caught, so keep
 * them from throwing.
 */
export interface CallTracer {
  /** When the call started (clock milliseconds). */
  readonly startTime: number;
  /**
   * False when `runAttempt` would only call its function (no attempt span to
   * make active), so the engine can call the operation directly.
   */
  readonly wrapsAttempts: boolean;
  /** An attempt starts at `time`; `hedge` when it runs beside earlier attempts of the call. */
  attemptStart(attempt: number, time: number, hedge?: boolean): void;
  /**
   * Runs the operation of the attempt started last, e.g. with that
   * attempt's span as the active context.
   */
  runAttempt<T>(fn: () => T): T;
  /** The attempt ended; `errorClass` is set when it failed. */
  attemptEnd(
    attempt: number,
    time: number,
    errorClass: ErrorClass | undefined,
    error: unknown,
  ): void;
  /**
   * Attempt `attempt` was cancelled at `time` because another attempt of
   * the call ended it (a hedge won): no outcome is recorded for it.
   */
  attemptCancelled(attempt: number, time: number): void;
  /** An event this call emitted (retry, give-ups, timeouts). */
  event(event: ResilienceEvent): void;
  /**
   * The call ended. `error` is what the call rejected with, if it did. The
   * outcome `success` is also the call's `success` event (which
   * {@link CallTracer.event} never receives).
   */
  end(time: number, outcome: CallOutcome, attempts: number, error: unknown): void;
}

/**
 * Starts a {@link CallTracer} per call (or returns undefined to skip it) and
 * hears about the composed parts.
 */
export interface CallObserver {
  /**
   * Starts following a call that started at `now` (clock milliseconds; NaN:
   * read `clock`, only if the call will be traced, so skipping costs no read).
   */
  start(policy: string, clock: Clock, now: number): CallTracer | undefined;
  /**
   * After `start()` returned undefined: how many further calls it would also
   * return undefined for, handed over to the caller, which may then skip
   * calling `start()` that many times (Infinity: never again).
   */
  takeQuietCalls(): number;
  /** A part's event that no traced call caused (a breaker reset, a budget recovering). */
  partEvent(event: ResilienceEvent): void;
  /** Reads the policy's failure budget when metrics are collected (its failure-rate gauge). */
  watchFailureBudget(budget: OutcomeRecorder): void;
  /** Reads the policy's bulkhead when metrics are collected (its occupancy gauges). */
  watchBulkhead(bulkhead: ConcurrencyGate): void;
}
