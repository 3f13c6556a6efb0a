/**
 * Error classes raised by Bulwark. Every error a policy produces on its own
 * (rather than rethrowing the caller's error) extends {@link ResilienceError}.
 *
 * @module
 */

/** Options shared by every {@link ResilienceError}. */
export interface ResilienceErrorOptions {
  /** Name of the policy (or part) that raised the error, when there is one. */
  policy?: string;
  /** The underlying error, when there is one. */
  cause?: unknown;
}

/**
 * Base class of every error Bulwark raises itself.
 *
 * @example Telling Bulwark's errors apart from the operation's own
 * ```ts
 * import { ResilienceError, RetryExhaustedError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new RetryExhaustedError("gave up", { attempts: 3, reason: "max_attempts" });
 * assert.ok(err instanceof ResilienceError);
 * ```
 */
export class ResilienceError extends Error {
  /** Name of the policy that raised the error, when there is one. */
  readonly policy?: string;

  /** Creates the error; `options.cause` becomes the standard `cause`. */
  constructor(message: string, options: ResilienceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    if (options.policy !== undefined) this.policy = options.policy;
  }
}

/** Why a retry loop gave up; see {@link RetryExhaustedError.reason}. */
export type RetryExhaustedReason =
  | "max_attempts"
  | "max_unknown_attempts"
  | "class_budget"
  | "retry_budget";

/** Options of {@link RetryExhaustedError}. */
export interface RetryExhaustedErrorOptions extends ResilienceErrorOptions {
  /** Attempts made, including the first. */
  attempts: number;
  /** Which limit ended the loop. */
  reason: RetryExhaustedReason;
  /**
   * The value the last attempt returned when it "failed" without throwing
   * (a 503 `Response`, say). Absent when the last attempt threw.
   */
  lastResult?: unknown;
}

/**
 * The retry loop stopped because a limit was reached. `cause` is the last
 * error (or the failing value), `attempts` the attempts made, `reason` the
 * limit, and `lastResult` the failing value when the last attempt returned one.
 *
 * @example
 * ```ts
 * import { policy, RetryExhaustedError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const p = policy("demo", { telemetry: false, retry: { maxAttempts: 2, backoff: () => 0 } });
 * await assert.rejects(
 *   p.execute(() => Promise.reject(new Error("boom"))),
 *   (e) => e instanceof RetryExhaustedError && e.attempts === 2 && e.reason === "max_attempts",
 * );
 * ```
 */
export class RetryExhaustedError extends ResilienceError {
  /** Attempts made, including the first. */
  readonly attempts: number;
  /** Which limit ended the loop. */
  readonly reason: RetryExhaustedReason;
  /** The failing value returned by the last attempt, if it returned one. */
  readonly lastResult?: unknown;

  /** Creates the error. */
  constructor(message: string, options: RetryExhaustedErrorOptions) {
    super(message, options);
    this.attempts = options.attempts;
    this.reason = options.reason;
    if ("lastResult" in options) this.lastResult = options.lastResult;
  }
}

/** Options of {@link DeadlineExceededError}. */
export interface DeadlineExceededErrorOptions extends ResilienceErrorOptions {
  /** Attempts made before the deadline. */
  attempts?: number;
  /** The deadline, in the clock's milliseconds. */
  deadline?: number;
}

/**
 * The call's deadline passed, or the next retry could not finish before it.
 * `cause` is the last attempt's error, if there was one.
 *
 * @example
 * ```ts
 * import { DeadlineExceededError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new DeadlineExceededError("too late", { attempts: 2, deadline: 1_000 });
 * assert.equal(err.attempts, 2);
 * ```
 */
export class DeadlineExceededError extends ResilienceError {
  /** Attempts made before the deadline. */
  readonly attempts: number;
  /** The deadline, in the clock's milliseconds (NaN when unknown). */
  readonly deadline: number;

  /** Creates the error. */
  constructor(message: string, options: DeadlineExceededErrorOptions = {}) {
    super(message, options);
    this.attempts = options.attempts ?? 0;
    this.deadline = options.deadline ?? NaN;
  }
}

/** Options of {@link AttemptTimeoutError}. */
export interface AttemptTimeoutErrorOptions extends ResilienceErrorOptions {
  /** The attempt that timed out (1-based). */
  attempt: number;
  /** The per-attempt timeout that elapsed. */
  timeoutMs: number;
}

/**
 * One attempt ran longer than `attemptTimeoutMs`. Classified `transient`, so
 * the next attempt runs if the budgets allow it.
 *
 * @example
 * ```ts
 * import { AttemptTimeoutError, defaultClassifier } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new AttemptTimeoutError("slow", { attempt: 1, timeoutMs: 500 });
 * assert.equal(defaultClassifier(err), "transient");
 * ```
 */
export class AttemptTimeoutError extends ResilienceError {
  /** The attempt that timed out (1-based). */
  readonly attempt: number;
  /** The per-attempt timeout that elapsed. */
  readonly timeoutMs: number;

  /** Creates the error. */
  constructor(message: string, options: AttemptTimeoutErrorOptions) {
    super(message, options);
    this.attempt = options.attempt;
    this.timeoutMs = options.timeoutMs;
  }
}

/** Options of {@link CircuitOpenError}. */
export interface CircuitOpenErrorOptions extends ResilienceErrorOptions {
  /** Milliseconds until the breaker admits a probe again. */
  retryAfterMs: number;
}

/**
 * The circuit breaker rejected the call without running it.
 *
 * @example
 * ```ts
 * import { CircuitOpenError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new CircuitOpenError("open", { retryAfterMs: 2_000, policy: "db" });
 * assert.equal(err.retryAfterMs, 2_000);
 * ```
 */
export class CircuitOpenError extends ResilienceError {
  /** Milliseconds until the breaker admits a probe again. */
  readonly retryAfterMs: number;

  /** Creates the error. */
  constructor(message: string, options: CircuitOpenErrorOptions) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Options of {@link RateLimitedError}. */
export interface RateLimitedErrorOptions extends ResilienceErrorOptions {
  /** Milliseconds until the rate limiter has a token for this call. */
  retryAfterMs: number;
}

/**
 * The rate limiter had no token for the call within `maxWaitMs` (or before
 * the call's deadline): the call was refused without running.
 *
 * @example
 * ```ts
 * import { RateLimitedError, ResilienceError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new RateLimitedError("no token", { retryAfterMs: 100, policy: "api" });
 * assert.ok(err instanceof ResilienceError);
 * assert.equal(err.retryAfterMs, 100);
 * ```
 */
export class RateLimitedError extends ResilienceError {
  /** Milliseconds until the rate limiter has a token for this call. */
  readonly retryAfterMs: number;

  /** Creates the error. */
  constructor(message: string, options: RateLimitedErrorOptions) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Options of {@link HedgeCancelledError}. */
export interface HedgeCancelledErrorOptions extends ResilienceErrorOptions {
  /** The attempt that was cancelled (1-based). */
  attempt: number;
  /** The attempt whose outcome ended the call (it won, or failed permanently). */
  winner: number;
}

/**
 * The abort reason of a hedged call's attempt that lost: another attempt of
 * the same call succeeded (or failed permanently) first. A cancelled
 * attempt is recorded neither as a success nor as a failure.
 *
 * @example
 * ```ts
 * import { HedgeCancelledError, ResilienceError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const err = new HedgeCancelledError("lost", { attempt: 1, winner: 2, policy: "search" });
 * assert.ok(err instanceof ResilienceError);
 * assert.equal(err.winner, 2);
 * ```
 */
export class HedgeCancelledError extends ResilienceError {
  /** The attempt that was cancelled (1-based). */
  readonly attempt: number;
  /** The attempt whose outcome ended the call. */
  readonly winner: number;

  /** Creates the error. */
  constructor(message: string, options: HedgeCancelledErrorOptions) {
    super(message, options);
    this.attempt = options.attempt;
    this.winner = options.winner;
  }
}

/**
 * The bulkhead was full (or the queue wait timed out) and rejected the call.
 *
 * @example
 * ```ts
 * import { BulkheadRejectedError, ResilienceError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new BulkheadRejectedError("full") instanceof ResilienceError);
 * ```
 */
export class BulkheadRejectedError extends ResilienceError {}

/**
 * A failure budget with `action: "reject"` is breached: the call fails fast.
 *
 * @example
 * ```ts
 * import { FailureBudgetExceededError, ResilienceError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new FailureBudgetExceededError("breached") instanceof ResilienceError);
 * ```
 */
export class FailureBudgetExceededError extends ResilienceError {}

/**
 * The HTTP client's connection pool had no free slot within
 * `connectionTimeoutMs`.
 *
 * @example
 * ```ts
 * import { PoolTimeoutError, ResilienceError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new PoolTimeoutError("pool busy") instanceof ResilienceError);
 * ```
 */
export class PoolTimeoutError extends ResilienceError {}

/**
 * A fault deliberately injected by the network conditioner or
 * `faultInjection`. Classified `transient`.
 *
 * @example
 * ```ts
 * import { defaultClassifier, InjectedFaultError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.equal(defaultClassifier(new InjectedFaultError("lost")), "transient");
 * ```
 */
export class InjectedFaultError extends ResilienceError {}

/**
 * A watched operation ran past its watchdog timeout.
 *
 * @example
 * ```ts
 * import { ResilienceError, WatchdogTimeoutError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new WatchdogTimeoutError("hung") instanceof ResilienceError);
 * ```
 */
export class WatchdogTimeoutError extends ResilienceError {}
