/**
 * Reporting: the one place that knows whether anyone listens to a call.
 * The loop and the fast path tell the {@link Reporter} what happened; it
 * builds events only when a listener or a tracer will receive them, hands
 * them to both, and builds the errors a call gives up with. A call without
 * telemetry gets {@link NOOP_TRACER}, so nothing else asks "is a tracer
 * there?" (the OpenTelemetry API's null objects, Polly's one telemetry
 * chokepoint).
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import { ERROR_CLASSES, type ErrorClass } from "../core/error_class.ts";
import { typeError } from "../core/validate.ts";
import {
  AttemptTimeoutError,
  CircuitOpenError,
  DeadlineExceededError,
  FailureBudgetExceededError,
  HedgeCancelledError,
  RetryExhaustedError,
  type RetryExhaustedReason,
} from "../core/errors.ts";
import {
  EventSink,
  type GiveUpEvent,
  type ResilienceEvent,
  type RetryBudgetExhaustedEvent,
} from "../core/events.ts";
import type { AttemptInfo } from "./attempt.ts";
import { FIRED, type TimerKind } from "./outcome.ts";
import type {
  AttemptGate,
  CallObserver,
  CallOutcome,
  CallTracer,
  OutcomeRecorder,
} from "./parts.ts";
import type { ResolvedRetryOptions } from "../retry/retry_options.ts";
import { CLASS_INDEX } from "../retry/retry_options.ts";

/** The tracer of a call that nobody traces: every method does nothing. */
export const NOOP_TRACER: CallTracer = Object.freeze({
  startTime: NaN,
  wrapsAttempts: false,
  attemptStart(): void {},
  runAttempt<T>(fn: () => T): T {
    return fn();
  },
  attemptEnd(): void {},
  attemptCancelled(): void {},
  event(): void {},
  end(): void {},
});

/** The event type each give-up reason is reported as (also the call's outcome). */
export const GIVE_UP_EVENT: Readonly<
  Record<RetryExhaustedReason, GiveUpEvent["type"] | "retry_budget_exhausted">
> = Object.freeze({
  max_attempts: "max_attempts_exceeded",
  max_unknown_attempts: "max_unknown_attempts_exceeded",
  class_budget: "class_budget_exhausted",
  retry_budget: "retry_budget_exhausted",
});

/**
 * Reports one policy's calls to its listeners and tracers; builds its
 * errors. It is the policy's event sink itself (listeners attach here), so
 * the fast path's "does anyone listen?" touches no other object.
 */
export class Reporter extends EventSink {
  // Field order is memory layout: the sink's own fields come first, then
  // what a fast-path call writes or reads, so it stays on one cache line.
  /** The call whose part interaction is in progress (NOOP_TRACER: an untraced one). */
  cause: CallTracer | undefined = undefined;
  readonly #observer: CallObserver | undefined;
  readonly #name: string;
  readonly #label: string;
  readonly #clock: Clock;
  readonly #attemptTimeoutMs: number;
  readonly #retry: ResolvedRetryOptions;
  readonly #onActive: (active: boolean) => void;

  /** `onActive` hears whether anyone listens, each time a listener comes or goes. */
  constructor(
    name: string,
    clock: Clock,
    observer: CallObserver | undefined,
    attemptTimeoutMs: number,
    retry: ResolvedRetryOptions,
    onActive: (active: boolean) => void,
  ) {
    super();
    this.#onActive = onActive;
    this.#name = name;
    this.#label = `policy "${name}"`;
    this.#clock = clock;
    this.#observer = observer;
    this.#attemptTimeoutMs = attemptTimeoutMs;
    this.#retry = retry;
  }

  protected override activeChanged(active: boolean): void {
    this.#onActive(active);
  }

  /** Starts following a call that started at `now` (NaN: not read yet). */
  startCall(now: number): CallTracer {
    return this.#observer?.start(this.#name, this.#clock, now) ?? NOOP_TRACER;
  }

  /** True when the call's attempts must be timed: a tracer records their spans. */
  traces(tracer: CallTracer): boolean {
    return tracer !== NOOP_TRACER;
  }

  /** The one check: will a listener or the call's tracer receive an event? */
  #listening(tracer: CallTracer): boolean {
    return this.active || tracer !== NOOP_TRACER;
  }

  /** Delivers an event to the listeners and to the call's tracer. */
  #emit(tracer: CallTracer, event: ResilienceEvent): void {
    if (this.active) this.emit(event);
    tracer.event(event);
  }

  /** `now` when it was read, else the clock (read only for an event that is delivered). */
  #time(now: number): number {
    return now === now ? now : this.#clock.now();
  }

  /**
   * Forwards an event of a composed part (breaker, budget, bulkhead).
   * Events of a part the policy owns are always forwarded; those of a shared
   * part only when this policy's call caused them, so policies sharing a
   * breaker do not all report each transition.
   */
  partEvent(event: ResilienceEvent, owned: boolean): void {
    const cause = this.cause;
    if (cause === undefined && !owned) return;
    if (this.active) this.emit(event);
    if (cause !== undefined && cause !== NOOP_TRACER) cause.event(event);
    else this.#observer?.partEvent(event);
  }

  /** The caller aborted attempt `attempt` (its span ends, as `unknown`). */
  attemptCancelled(tracer: CallTracer, attempt: number, reason: unknown): void {
    if (tracer !== NOOP_TRACER) tracer.attemptEnd(attempt, this.#clock.now(), "unknown", reason);
  }

  /** The call ends, rejecting with `error` after `attempts` attempts. */
  callFailed(tracer: CallTracer, outcome: CallOutcome, attempts: number, error: unknown): void {
    if (tracer !== NOOP_TRACER) tracer.end(this.#clock.now(), outcome, attempts, error);
  }

  /** Attempt `attempt` succeeded at `now` (NaN: not read). */
  success(_tracer: CallTracer, attempt: number, now: number): void {
    // The call's tracer hears of it from `end(..., "success")`: only the
    // listeners get the event object. (The check alone, so the fast path
    // inlines it; the event is built below.)
    if (this.active) this.#success(attempt, now);
  }

  #success(attempt: number, now: number): void {
    this.emit({
      type: "success",
      policy: this.#name,
      timestamp: this.#time(now),
      attempt,
    });
  }

  /** Attempt `attempt` failed and the loop will retry after `delayMs`. */
  retry(
    tracer: CallTracer,
    attempt: number,
    errorClass: ErrorClass,
    error: unknown,
    delayMs: number,
    now: number,
  ): void {
    if (!this.#listening(tracer)) return;
    this.#emit(tracer, {
      type: "retry",
      policy: this.#name,
      timestamp: now,
      attempt,
      errorClass,
      error,
      delayMs,
    });
  }

  /** Attempt `attempt` starts beside the ones in flight, `delayMs` after the previous one. */
  hedge(tracer: CallTracer, attempt: number, delayMs: number, now: number): void {
    if (!this.#listening(tracer)) return;
    this.#emit(tracer, {
      type: "hedge",
      policy: this.#name,
      timestamp: now,
      attempt,
      delayMs,
    });
  }

  /** The abort reason of attempt `attempt`, which lost to attempt `winner`. */
  hedgeCancelled(attempt: number, winner: number): HedgeCancelledError {
    return new HedgeCancelledError(
      `${this.#label} cancelled attempt ${attempt}: attempt ${winner} ended the call`,
      { policy: this.#name, attempt, winner },
    );
  }

  /** The call gave up (`reason`, after `attempts` attempts) and its fallback runs. */
  fallback(tracer: CallTracer, reason: string, attempts: number): void {
    if (!this.#listening(tracer)) return;
    this.#emit(tracer, {
      type: "fallback",
      policy: this.#name,
      timestamp: this.#clock.now(),
      reason,
      attempts,
    });
  }

  /** A call joined the one in flight under `key` (`callers` now share it). */
  coalesced(key: string, callers: number): void {
    const observer = this.#observer;
    if (!this.active && observer === undefined) return;
    const event: ResilienceEvent = {
      type: "coalesced",
      policy: this.#name,
      timestamp: this.#clock.now(),
      key,
      callers,
    };
    if (this.active) this.emit(event);
    // (No call of its own to trace: counted in `bulwark.events` as a part's event.)
    observer?.partEvent(event);
  }

  /** Attempt `attempt` failed permanently: the call ends with its error or value. */
  permanentFail(tracer: CallTracer, attempt: number, error: unknown, now: number): void {
    if (!this.#listening(tracer)) return;
    this.#emit(tracer, {
      type: "permanent_fail",
      policy: this.#name,
      timestamp: now,
      attempt,
      errorClass: "permanent",
      error,
    });
  }

  /** Attempt `attempt` timed out; the loop goes on with it as a failure. */
  attemptTimeout(tracer: CallTracer, attempt: number): void {
    if (!this.#listening(tracer)) return;
    this.#emit(tracer, {
      type: "attempt_timeout",
      policy: this.#name,
      timestamp: this.#clock.now(),
      attempt,
      timeoutMs: this.#attemptTimeoutMs,
    });
  }

  /**
   * Emits `deadline_exceeded` (after `attempts` attempts, the last failing
   * with `error` of `errorClass`; `delayMs` when a retry's wait would pass
   * the deadline) and returns the error the call rejects with.
   */
  deadlineExceeded(
    tracer: CallTracer,
    attempts: number,
    deadline: number,
    error: unknown,
    errorClass: ErrorClass | undefined,
    now: number,
    delayMs?: number,
  ): DeadlineExceededError {
    this.deadlineEvent(tracer, attempts, error, errorClass, now, delayMs);
    return this.deadlineError(attempts, deadline, error);
  }

  /** Emits `deadline_exceeded` only (the deadline's timer already built the error). */
  deadlineEvent(
    tracer: CallTracer,
    attempt: number,
    error: unknown,
    errorClass: ErrorClass | undefined,
    now: number,
    delayMs?: number,
  ): void {
    if (!this.#listening(tracer)) return;
    this.#emit(tracer, {
      type: "deadline_exceeded",
      policy: this.#name,
      timestamp: now,
      attempt,
      ...(errorClass === undefined ? {} : { errorClass, error }),
      ...(delayMs === undefined ? {} : { delayMs }),
    });
  }

  /** The error of a call whose deadline passed after `attempts` attempts. */
  deadlineError(attempts: number, deadline: number, cause: unknown): DeadlineExceededError {
    return new DeadlineExceededError(
      `${this.#label} deadline exceeded after ${attempts} attempt${attempts === 1 ? "" : "s"}`,
      { policy: this.#name, attempts, deadline, cause },
    );
  }

  /** The abort reason when an attempt's timer fires. */
  readonly reasonFor = (run: AttemptInfo, kind: TimerKind): unknown =>
    kind === FIRED.deadline
      ? this.deadlineError(run.attempt, run.deadline, run.previousError)
      : new AttemptTimeoutError(
        `${this.#label} attempt ${run.attempt} timed out after ${this.#attemptTimeoutMs} ms`,
        { policy: this.#name, attempt: run.attempt, timeoutMs: this.#attemptTimeoutMs },
      );

  /**
   * Emits the give-up event for `reason` and returns the error the call
   * rejects with (`lastResult` when the last attempt returned `value`).
   */
  giveUp(
    tracer: CallTracer,
    reason: RetryExhaustedReason,
    attempt: number,
    errorClass: ErrorClass,
    error: unknown,
    threw: boolean,
    value: unknown,
    now: number,
    maxAttempts: number,
  ): RetryExhaustedError {
    if (this.#listening(tracer)) {
      this.#emit(
        tracer,
        {
          type: GIVE_UP_EVENT[reason],
          policy: this.#name,
          timestamp: now,
          attempt,
          errorClass,
          error,
        } as GiveUpEvent | RetryBudgetExhaustedEvent,
      );
    }
    return new RetryExhaustedError(
      `${this.#label} gave up after ${attempt} attempt${attempt === 1 ? "" : "s"} (${
        describeReason(reason, errorClass, this.#retry, maxAttempts)
      })`,
      {
        policy: this.#name,
        cause: error,
        attempts: attempt,
        reason,
        ...(threw ? {} : { lastResult: value }),
      },
    );
  }

  /** Throws the `TypeError` for a classifier result that is neither "success" nor an error class. */
  invalidClass(verdict: unknown): never {
    return typeError(
      `${this.#label} classify result`,
      `"success" or one of the error classes (${ERROR_CLASSES.join(", ")})`,
      verdict,
    );
  }

  /** The error of a call the open circuit refused. */
  circuitOpen(circuit: AttemptGate, lastError: unknown): CircuitOpenError {
    return new CircuitOpenError(
      `${this.#label} rejected the call: circuit "${circuit.name}" is open`,
      { policy: this.#name, retryAfterMs: circuit.retryAfterMs, cause: lastError },
    );
  }

  /** The error of a call a breached failure budget refused. */
  budgetBreached(budget: OutcomeRecorder): FailureBudgetExceededError {
    return new FailureBudgetExceededError(
      `${this.#label} rejected the call: failure budget "${budget.name}" is breached`,
      { policy: this.#name },
    );
  }
}

function describeReason(
  reason: RetryExhaustedReason,
  cls: ErrorClass,
  retry: ResolvedRetryOptions,
  maxAttempts: number,
): string {
  switch (reason) {
    case "class_budget":
      return `class_budget: ${cls} budget of ${retry.budgets[CLASS_INDEX[cls]]} retries used up`;
    case "max_unknown_attempts":
      return `max_unknown_attempts: ${retry.maxUnknownAttempts} attempts ended in unknown errors`;
    case "max_attempts":
      return `max_attempts: ${maxAttempts}`;
    case "retry_budget":
      return "retry_budget: the shared retry budget refused another retry";
  }
}
