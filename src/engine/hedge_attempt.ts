/**
 * The attempts of a hedged call: one attempt's context and abort, and the
 * set of attempts in flight, which the call ends one at a time (an outcome
 * came in) or all at once (a winner, the deadline, the caller's abort).
 *
 * @module
 */

import type { Clock, TimerId } from "../core/clock.ts";
import { abortOnce, type AttemptInfo, type ContextSource, timerAt } from "./attempt.ts";
import type { FirstAttempt } from "./first_attempt.ts";

/** One attempt of a hedged call. */
export class HedgeAttempt implements ContextSource, AttemptInfo {
  readonly attempt: number;
  readonly deadline: number;
  readonly start: number;
  readonly previousError: unknown;
  /** The fast path's first attempt this one continues, if any. */
  readonly first: FirstAttempt<unknown> | undefined;
  /** True once its outcome was taken (or it was ended). */
  done = false;
  /** Its attempt-timeout timer. */
  timer: TimerId | undefined;
  #controller: AbortController | undefined;

  constructor(
    attempt: number,
    deadline: number,
    start: number,
    previousError: unknown,
    first: FirstAttempt<unknown> | undefined,
  ) {
    this.attempt = attempt;
    this.deadline = deadline;
    this.start = start;
    this.previousError = previousError;
    this.first = first;
  }

  get signal(): AbortSignal {
    return this.first?.signal ?? (this.#controller ??= new AbortController()).signal;
  }

  /** Aborts the attempt's signal with `reason` (once). */
  abort(reason: unknown): void {
    if (this.first !== undefined) this.first.abort(reason);
    else this.#controller = abortOnce(this.#controller, reason) ?? this.#controller;
  }
}

/** The attempts of one hedged call still in flight. */
export class InFlight {
  readonly #runs: HedgeAttempt[] = [];
  readonly #clock: Clock;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Attempts in flight. */
  get size(): number {
    return this.#runs.length;
  }

  /**
   * Adds `run`. When its timeout (`timeoutMs` from its start) ends before
   * its deadline (the call's own timer covers that), a timer calls
   * `onTimeout(run)` then.
   */
  add(
    run: HedgeAttempt,
    now: number,
    timeoutMs: number,
    onTimeout: (run: HedgeAttempt) => void,
  ): void {
    this.#runs.push(run);
    const at = run.start + timeoutMs;
    if (at >= run.deadline) return;
    run.timer = timerAt(
      this.#clock,
      () => {
        run.timer = undefined;
        onTimeout(run);
      },
      now,
      at,
    );
  }

  /**
   * Takes `run` out as its outcome comes in (its timer cleared). False when
   * it was already taken or ended: a late outcome, to be ignored.
   */
  take(run: HedgeAttempt): boolean {
    if (run.done) return false;
    run.done = true;
    this.#runs.splice(this.#runs.indexOf(run), 1);
    if (run.timer !== undefined) this.#clock.clearTimer(run.timer);
    return true;
  }

  /**
   * Ends every attempt in flight: each is taken out, its signal aborted
   * with `reasonFor(run)`, then handed to `each` (to record and report it).
   */
  endAll(reasonFor: (run: HedgeAttempt) => unknown, each: (run: HedgeAttempt) => void): void {
    for (const run of this.#runs.splice(0)) {
      run.done = true;
      if (run.timer !== undefined) this.#clock.clearTimer(run.timer);
      run.abort(reasonFor(run));
      each(run);
    }
  }
}
