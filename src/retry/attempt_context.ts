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

import type { Clock, TimerId } from "../core/clock.ts";

const NOT_ABORTED: unique symbol = Symbol("not aborted");

/**
 * One attempt's context. The `AbortController` behind `signal` is created
 * only if the operation reads `signal`, so operations that ignore it cost no
 * allocation; `abort()` settles {@link AttemptRun.settle}'s promise at once
 * even if the operation never looks at its signal.
 */
export class AttemptRun implements AttemptContext {
  readonly attempt: number;
  readonly deadline: number;
  /** Which timer aborted the attempt: 0 none, 1 the deadline, 2 the attempt timeout. */
  fired: 0 | 1 | 2 = 0;
  /** The previous attempt's failure (the cause of a deadline error). */
  previousError: unknown;
  #clock: Clock | undefined;
  #timer: TimerId | undefined;
  #controller: AbortController | undefined;
  #reason: unknown = NOT_ABORTED;
  #reject: ((reason: unknown) => void) | undefined;

  constructor(attempt: number, deadline: number) {
    this.attempt = attempt;
    this.deadline = deadline;
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== NOT_ABORTED) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  /** True once {@link AttemptRun.abort} ran. */
  get aborted(): boolean {
    return this.#reason !== NOT_ABORTED;
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
    reasonFor: (run: AttemptRun, kind: 1 | 2) => unknown,
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
    if (this.#reason !== NOT_ABORTED) return;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#reject?.(reason);
  }

  /** Runs `operation`, settling with it or with the abort reason, whichever comes first. */
  settle<T>(operation: Operation<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#reject = reject;
      if (this.#reason !== NOT_ABORTED) {
        reject(this.#reason);
        return;
      }
      try {
        const result = operation(this);
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
