/**
 * Attempts: what the operation receives on each attempt, and the state of
 * one attempt in the general loop (its timer, its abort, its settling).
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

import type { Clock, TimerId } from "../core/clock.ts";
import { type AttemptOutcome, FIRED, type Fired, type TimerKind } from "./outcome.ts";

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
export function abortOnce(
  controller: AbortController | undefined,
  reason: unknown,
): AbortController | undefined {
  if (controller?.signal.aborted) return undefined;
  controller ??= new AbortController();
  controller.abort(reason);
  return controller;
}

/** Builds the abort reason when an attempt's timer fires (the engine's errors). */
export type AbortReason = (run: AttemptInfo, kind: TimerKind) => unknown;

/**
 * Sets a timer on `clock` that fires at clock time `at` (`now` being the
 * time just read): absolute where the clock supports it, else relative.
 */
export function timerAt(clock: Clock, callback: () => void, now: number, at: number): TimerId {
  return clock.setTimerAt === undefined
    ? clock.setTimer(callback, at - now)
    : clock.setTimerAt(callback, at);
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
export class AttemptRun<T = unknown> implements ContextSource, AttemptInfo, AttemptOutcome<T> {
  readonly attempt: number;
  readonly deadline: number;
  /** When the attempt started (clock milliseconds; 0 when nothing needed the time). */
  readonly start: number;
  /** Which timer aborted the attempt. */
  fired: Fired = FIRED.none;
  /** True once the operation threw, rejected or was aborted. */
  threw = false;
  /** What the operation returned. */
  value: T | undefined = undefined;
  /** What it threw, or the abort reason. */
  error: unknown = undefined;
  /** Never set here: the loop classifies its own attempts. */
  readonly verdict: undefined = undefined;
  /** The previous attempt's failure (the cause of a deadline error). */
  previousError: unknown;
  #clock: Clock | undefined;
  #timer: TimerId | undefined;
  #reject: ((reason: unknown) => void) | undefined;
  #controller: AbortController | undefined;

  constructor(attempt: number, deadline: number, start: number) {
    this.attempt = attempt;
    this.deadline = deadline;
    this.start = start;
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
    kind: TimerKind,
    reasonFor: AbortReason,
  ): void {
    this.#clock = clock;
    this.#timer = timerAt(
      clock,
      () => {
        this.fired = kind;
        this.abort(reasonFor(this, kind));
      },
      now,
      at,
    );
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
  settle(operation: Operation<T>): Promise<T> {
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
