/**
 * The decision after a failed attempt: give up (and why), or retry after
 * how many milliseconds. Steps 4 to 6 of docs/policy.md "The loop, step by
 * step", as one pure function of the failure and the call's counters: no
 * clock (the time is an input), no timers, no events (the loop reports what
 * it decides).
 *
 * @module
 */

import type { BackoffStrategy } from "../backoff/strategy.ts";
import { retryAfterMs } from "../classify/retry_after.ts";
import type { ErrorClass } from "../core/error_class.ts";
import type { RetryExhaustedReason } from "../core/errors.ts";
import type { RandomSource } from "../core/random.ts";
import { rangeError } from "../core/validate.ts";
import { CLASS_INDEX, type ResolvedRetryOptions } from "../retry/retry_options.ts";

/** What {@link decide} needs to know about the failure and the call. */
export interface DecideInput {
  /** The failed attempt's class. */
  readonly errorClass: ErrorClass;
  /** Failures of that class in this call, this one included. */
  readonly classFailures: number;
  /** The failed attempt's number (attempts made so far), 1-based. */
  readonly attempt: number;
  /** The call's cap on attempts (the policy's, or lower per call). */
  readonly maxAttempts: number;
  /**
   * The thrown error or failing value. Its `Retry-After` (a header, or an
   * error's `retryAfterMs`) is read only once the call is to be retried, so
   * a failure that ends the call is never inspected further.
   */
  readonly failure: unknown;
  /** The call's deadline in clock milliseconds (`Infinity`: no deadline). */
  readonly deadline: number;
  /** The previous retry's delay, for strategies that grow from it. */
  readonly prevDelayMs: number | undefined;
  /** The clock's time: the wait starts now (also passed to strategies that read it). */
  readonly now: number;
  /** Randomness for jitter. */
  readonly random: RandomSource;
  /** Names the policy in the error for a broken backoff strategy. */
  readonly label: string;
  /**
   * The next attempt starts at once, without a backoff (a hedged call): the
   * delay is 0 and the strategy is not asked.
   */
  readonly atOnce?: boolean;
}

/** The outcome of {@link decide}. */
export type Decision =
  /** A permanent failure beyond its budget: the call ends with the failure itself. */
  | { readonly action: "permanent" }
  /**
   * A retry limit was reached: the call ends with `RetryExhaustedError`.
   * (`retry_budget` is the loop's to say: the shared budget is asked last.)
   */
  | { readonly action: "give_up"; readonly reason: Exclude<RetryExhaustedReason, "retry_budget"> }
  /** The wait would reach the deadline: the call ends now with `DeadlineExceededError`. */
  | { readonly action: "deadline"; readonly delayMs: number }
  /** Retry after `delayMs` (the retry budget still has a say). */
  | { readonly action: "retry"; readonly delayMs: number };

const PERMANENT_DECISION: Decision = Object.freeze({ action: "permanent" });
const GIVE_UP: Readonly<Record<Exclude<RetryExhaustedReason, "retry_budget">, Decision>> = Object
  .freeze({
    class_budget: Object.freeze({ action: "give_up", reason: "class_budget" }),
    max_unknown_attempts: Object.freeze({ action: "give_up", reason: "max_unknown_attempts" }),
    max_attempts: Object.freeze({ action: "give_up", reason: "max_attempts" }),
  });

const PERMANENT = CLASS_INDEX.permanent;
const UNKNOWN = CLASS_INDEX.unknown;

/**
 * Decides what follows a failed attempt, in the documented order:
 * 1. `permanent` beyond its budget (0 by default) ends the call with the failure;
 * 2. the class's budget used up: give up, `class_budget`;
 * 3. an `unknown` failure with `maxUnknownAttempts` reached: `max_unknown_attempts`;
 * 4. `maxAttempts` reached: `max_attempts`;
 * 5. the delay: `Retry-After` (when honoured; capped by `maxRetryAfterMs`),
 *    else the class's backoff strategy;
 * 6. a delay that reaches the deadline ends the call now (`deadline`);
 *    otherwise retry after it.
 *
 * @throws {RangeError} when the backoff strategy returns anything but a finite number >= 0.
 */
export function decide(input: DecideInput, retry: ResolvedRetryOptions): Decision {
  const index = CLASS_INDEX[input.errorClass];
  const count = input.classFailures;
  if (count > retry.budgets[index]) {
    return index === PERMANENT ? PERMANENT_DECISION : GIVE_UP.class_budget;
  }
  if (index === UNKNOWN && count >= retry.maxUnknownAttempts) return GIVE_UP.max_unknown_attempts;
  if (input.attempt >= input.maxAttempts) return GIVE_UP.max_attempts;
  const delayMs = input.atOnce === true ? 0 : delayFor(input, retry, retry.backoffs[index]);
  // The same comparison the next attempt's gate makes (`start >= deadline`).
  return input.now + delayMs >= input.deadline
    ? { action: "deadline", delayMs }
    : { action: "retry", delayMs };
}

/** Step 5: the wait before the next attempt. */
function delayFor(
  input: DecideInput,
  retry: ResolvedRetryOptions,
  backoff: BackoffStrategy,
): number {
  const asked = retry.honorRetryAfter ? retryAfterMs(input.failure, input.now) : undefined;
  if (asked !== undefined) return asked > retry.maxRetryAfterMs ? retry.maxRetryAfterMs : asked;
  const delayMs = backoff({
    attempt: input.attempt,
    prevDelayMs: input.prevDelayMs,
    errorClass: input.errorClass,
    random: input.random,
    now: input.now,
  });
  // (Infinity too is a broken strategy: it would end the call as if its deadline had passed.)
  if (typeof delayMs !== "number" || !(delayMs >= 0 && delayMs < Infinity)) {
    rangeError(`${input.label} backoff result`, "a finite number >= 0", delayMs);
  }
  return delayMs;
}
