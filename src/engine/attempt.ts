/**
 * What the operation receives on each attempt.
 *
 * @module
 */

/** The argument passed to the operation on every attempt. */
export interface AttemptContext {
  /**
   * Aborts when the caller's signal aborts, the call's deadline passes or
   * this attempt's timeout elapses; `signal.reason` says which. Pass it to
   * `fetch` and friends so abandoned work stops.
   */
  readonly signal: AbortSignal;
  /** This attempt's number, 1-based. */
  readonly attempt: number;
  /** The call's deadline in the clock's milliseconds; `Infinity` when there is none. */
  readonly deadline: number;
}

/** The operation a policy runs. */
export type Operation<T> = (context: AttemptContext) => T | PromiseLike<T>;

import type { Clock, TimerId, WheelTimers } from "../core/clock.ts";

/** What an abort reason is built from (the deadline error names the attempt and its cause). */
export interface AttemptInfo {
  readonly attempt: number;
  readonly deadline: number;
  /** The previous attempt's failure (the cause of a deadline error). */
  readonly previousError: unknown;
}

// Every attempt context keeps its abort state in one lazily created
// `AbortController`: an operation that never reads `signal` (and an attempt
// never aborted) costs no allocation. The classes do not share a base class:
// constructing a derived class costs measurably more on the hot path.

/** Aborts `controller` (created if need be) unless it already was; returns it, or undefined if it was. */
function abortOnce(
  controller: AbortController | undefined,
  reason: unknown,
): AbortController | undefined {
  if (controller?.signal.aborted) return undefined;
  controller ??= new AbortController();
  controller.abort(reason);
  return controller;
}

/** Where an {@link OperationContext} reads the attempt's deadline and signal. */
export interface ContextSource {
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/**
 * The context an operation receives: its attempt number, the call's
 * deadline and the attempt's signal, and nothing else. The engine's own
 * per-attempt state stays out of the operation's reach. The same shape on
 * every path: `attempt` is an own property, `deadline` and `signal` are
 * getters (the deadline of a fast-path call is fixed when first read).
 */
export class OperationContext implements AttemptContext {
  readonly attempt: number;
  readonly #source: ContextSource;

  constructor(attempt: number, source: ContextSource) {
    this.attempt = attempt;
    this.#source = source;
  }

  /** The call's deadline in the clock's milliseconds; `Infinity` when there is none. */
  get deadline(): number {
    return this.#source.deadline;
  }

  /** Aborts when the caller aborts, the deadline passes or the attempt times out. */
  get signal(): AbortSignal {
    return this.#source.signal;
  }
}

/**
 * One attempt's context in the retry loop. `abort()` settles
 * {@link AttemptRun.settle}'s promise at once even if the operation never
 * looks at its signal.
 */
export class AttemptRun implements ContextSource, AttemptInfo {
  readonly attempt: number;
  readonly deadline: number;
  /** Which timer aborted the attempt: 0 none, 1 the deadline, 2 the attempt timeout. */
  fired: 0 | 1 | 2 = 0;
  /** The previous attempt's failure (the cause of a deadline error). */
  previousError: unknown;
  #clock: Clock | undefined;
  #timer: TimerId | undefined;
  #reject: ((reason: unknown) => void) | undefined;
  #controller: AbortController | undefined;

  constructor(attempt: number, deadline: number) {
    this.attempt = attempt;
    this.deadline = deadline;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  /** True once {@link AttemptRun.abort} ran. */
  get aborted(): boolean {
    return this.#controller?.signal.aborted ?? false;
  }

  /**
   * Arms the attempt's timer: at clock time `at` (`now` being the time just
   * read), `fired` becomes `kind` and the attempt aborts with
   * `reasonFor(this, kind)`.
   */
  arm(
    clock: Clock,
    now: number,
    at: number,
    kind: 1 | 2,
    reasonFor: (run: AttemptInfo, kind: 1 | 2) => unknown,
  ): void {
    this.#clock = clock;
    const fire = () => {
      this.fired = kind;
      this.abort(reasonFor(this, kind));
    };
    this.#timer = clock.setTimerAt === undefined
      ? clock.setTimer(fire, at - now)
      : clock.setTimerAt(fire, at);
  }

  /** Cancels the timer set by {@link AttemptRun.arm}, if any. */
  disarm(): void {
    if (this.#timer !== undefined) this.#clock!.clearTimer(this.#timer);
  }

  /** Aborts the attempt: its signal aborts and `settle()` rejects with `reason`. */
  abort(reason: unknown): void {
    const aborted = abortOnce(this.#controller, reason);
    if (aborted === undefined) return;
    this.#controller = aborted;
    this.#reject?.(reason);
  }

  /** Runs `operation`, settling with it or with the abort reason, whichever comes first. */
  settle<T>(operation: Operation<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#reject = reject;
      if (this.aborted) {
        reject(this.#controller!.signal.reason);
        return;
      }
      try {
        const result = operation(new OperationContext(this.attempt, this));
        // A native promise is chained directly; anything else (a value, a
        // foreign thenable) goes through Promise.resolve first.
        if (result instanceof Promise) result.then(resolve, reject);
        else Promise.resolve(result).then(resolve, reject);
      } catch (error) {
        reject(error);
      }
    });
  }
}

/**
 * The context of a call's first attempt on the fast path when nothing can
 * end it early (no deadline, no attempt timeout, no caller signal): no
 * timer and no start time, so it is the whole per-call state, and as small
 * as it gets. Same shape as {@link OperationContext}.
 */
export class UntimedContext implements AttemptContext {
  readonly attempt = 1;
  #controller: AbortController | undefined;

  /** Always `Infinity`: the call has no deadline. */
  get deadline(): number {
    return Infinity;
  }

  /** Never aborts: nothing can end this attempt early. */
  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }
}

/**
 * The state of a call's first attempt on the policy's fast path when a
 * deadline or an attempt timeout can end it: its own timer entry and the
 * holder of the call's promise, so the common case (the first attempt
 * succeeds) allocates this object, the operation's {@link OperationContext},
 * the call's promise and two reactions, and nothing else.
 *
 * Its start time is fixed lazily: with the system clock the timer wheel
 * stamps it at its next tick (or when `deadline` is read), so a call that
 * ends within the tick never reads the clock.
 */
export class FirstAttempt<T> implements ContextSource, AttemptInfo {
  readonly operation: Operation<T>;
  /** What every first attempt of the policy shares. */
  readonly shared: FirstAttemptShared;
  /** True once the attempt's outcome (or its timer) was taken. */
  settled = false;
  /** Which timer aborted the attempt (0: none). */
  fired: 0 | 1 | 2 = 0;
  resolve: ((value: T | PromiseLike<T>) => void) | undefined;
  reject: ((reason: unknown) => void) | undefined;
  // StampedEntry, owned by the wheel (or `start` set once from a clock read).
  done = false;
  slot = 0;
  tick = 0;
  generation = 0;
  start = NaN;
  delayMs = 0;

  #controller: AbortController | undefined;

  constructor(operation: Operation<T>, shared: FirstAttemptShared) {
    this.operation = operation;
    this.shared = shared;
  }

  get signal(): AbortSignal {
    return (this.#controller ??= new AbortController()).signal;
  }

  /** Always 1. */
  get attempt(): number {
    return 1;
  }

  /** Always undefined: there was no attempt before. */
  get previousError(): unknown {
    return undefined;
  }

  /** The call's start in clock time, fixing it now if it was not yet. */
  callStart(): number {
    const timers = this.shared.timers;
    return timers === undefined ? this.start : timers.stamp(this);
  }

  /** The call's deadline (clock milliseconds); reading it fixes the start. */
  get deadline(): number {
    const deadlineMs = this.shared.deadlineMs;
    return deadlineMs === Infinity ? Infinity : this.callStart() + deadlineMs;
  }

  /** The timer fired. */
  callback(): void {
    this.shared.fire(this as FirstAttempt<unknown>);
  }

  /** Aborts the attempt's signal with `reason` (once). */
  abort(reason: unknown): void {
    this.#controller = abortOnce(this.#controller, reason) ?? this.#controller;
  }
}

/**
 * A first attempt on a clock whose timers do not run on a wheel (a
 * `VirtualClock`, a custom clock): its start is read up front and its timer
 * is the clock's own.
 */
export class ClockFirstAttempt<T> extends FirstAttempt<T> {
  /** The clock's timer for the attempt's limit. */
  timer: TimerId | undefined;
}

/** The settings a policy's first attempts share (one object per policy). */
export interface FirstAttemptShared {
  /** The call's deadline, in ms from its start (Infinity: none). */
  readonly deadlineMs: number;
  /** Which limit the first attempt's timer is: 1 the deadline, 2 the attempt timeout. */
  readonly kind: 1 | 2;
  /** The wheel that stamps the start; undefined: the clock is read up front. */
  readonly timers: WheelTimers | undefined;
  /** Called when the timer fires (the engine's handler). */
  readonly fire: (first: FirstAttempt<unknown>) => void;
}
