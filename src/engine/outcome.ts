/**
 * Named constants for how an attempt ended, and the record of one attempt
 * that the loop decides on.
 *
 * @module
 */

import type { ErrorClass } from "../core/error_class.ts";
import { CLASS_INDEX } from "../retry/retry_options.ts";

/** Which of the engine's timers ended an attempt early. */
export const FIRED = Object.freeze(
  {
    /** No timer fired: the operation settled on its own (or the caller aborted). */
    none: 0,
    /** The call's deadline passed: the call ends with `DeadlineExceededError`. */
    deadline: 1,
    /** The attempt timeout elapsed: the attempt failed with `AttemptTimeoutError`. */
    attemptTimeout: 2,
  } as const,
);

/** A value of {@link FIRED}. */
export type Fired = typeof FIRED[keyof typeof FIRED];

/** A timer that can fire: the deadline or the attempt timeout. */
export type TimerKind = typeof FIRED.deadline | typeof FIRED.attemptTimeout;

/** What an attempt tells the circuit breaker and the failure budget. */
export const RECORD = Object.freeze(
  {
    /** No outcome (the caller aborted, the classifier broke): free the breaker's probe only. */
    release: 0,
    /** The attempt succeeded. */
    success: 1,
    /** The attempt failed. */
    failure: 2,
  } as const,
);

/** A value of {@link RECORD}. */
export type RecordKind = typeof RECORD[keyof typeof RECORD];

/**
 * How one attempt ended: what the loop classifies and decides on. The fast
 * path hands its first attempt to the loop in this shape, so the loop treats
 * it like one of its own.
 */
export interface AttemptOutcome<T> {
  /** True when the operation threw (or its promise rejected, or a timer aborted it). */
  threw: boolean;
  /** What the operation returned, when it did not throw. */
  value: T | undefined;
  /** What it threw. */
  error: unknown;
  /** The classifier's verdict on a returned value, when it was already asked (never twice). */
  verdict: ErrorClass | undefined;
  /** Which timer ended the attempt, if one did. */
  fired: Fired;
  /** When the attempt started (clock milliseconds; NaN when nothing read the clock). */
  start: number;
}

/** True for one of the error classes (own keys only: "constructor" is not a class). */
export function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === "string" && Object.hasOwn(CLASS_INDEX, value);
}
