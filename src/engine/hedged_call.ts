/**
 * One hedged call as it runs: its attempts in flight, the hedge timer, the
 * deadline timer and the caller's abort, and what each attempt's outcome
 * does to the call (see `hedge.ts` for the rules).
 *
 * @module
 */

import type { TimerId } from "../core/clock.ts";
import type { ErrorClass } from "../core/error_class.ts";
import { CLASS_INDEX } from "../retry/retry_options.ts";
import { type Operation, OperationContext, timerAt } from "./attempt.ts";
import { decide } from "./decide.ts";
import type { Engine } from "./engine.ts";
import { FirstAttempt } from "./first_attempt.ts";
import { HedgeAttempt, InFlight } from "./hedge_attempt.ts";
import type { ExecuteOptions } from "./options.ts";
import { type AttemptOutcome, FIRED, type Fired, isErrorClass, RECORD } from "./outcome.ts";
import type { CallOutcome, CallTracer } from "./parts.ts";
import { admitAttempt, recordOutcome, recordSuccess } from "./record.ts";
import { GIVE_UP_EVENT } from "./report.ts";

const PERMANENT = CLASS_INDEX.permanent;

/** The state of one hedged call, from its first attempt to its end. */
export class HedgedCall<T> {
  readonly #engine: Engine;
  readonly #operation: Operation<T>;
  readonly #options: ExecuteOptions<T> | undefined;
  readonly #tracer: CallTracer;
  readonly #deadline: number;
  readonly #maxAttempts: number;
  /** The hedge delay, read once as the call starts. */
  readonly #delayMs: number;
  readonly #inFlight: InFlight;
  /** How the call ended (set before it rejects). */
  outcome: CallOutcome = "success";
  /** Attempts started. */
  started = 0;
  #done = false;
  /** Set when a failure used up what allows further attempts: no more hedges start. */
  #stopped = false;
  #lastStart = 0;
  #lastError: unknown;
  #lastClass: ErrorClass | undefined;
  #failures: number[] = [0, 0, 0, 0, 0, 0, 0];
  #hedgeTimer: TimerId | undefined;
  #deadlineTimer: TimerId | undefined;
  #resolve: ((value: T) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;

  constructor(
    engine: Engine,
    operation: Operation<T>,
    options: ExecuteOptions<T> | undefined,
    tracer: CallTracer,
    deadline: number,
  ) {
    this.#engine = engine;
    this.#operation = operation;
    this.#options = options;
    this.#tracer = tracer;
    this.#deadline = deadline;
    this.#maxAttempts = options?.maxAttempts === undefined
      ? engine.retry.maxAttempts
      : Math.min(engine.retry.maxAttempts, options.maxAttempts);
    this.#delayMs = engine.hedge!.delayMs;
    this.#inFlight = new InFlight(engine.clock);
  }

  /** Runs the call to its end: resolves with the winner's value, or rejects. */
  run(handed: FirstAttempt<T> | AttemptOutcome<T> | undefined, callStart: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      const clock = this.#engine.clock;
      try {
        const signal = this.#options?.signal;
        if (signal !== undefined) {
          // (Aborted in the bulkhead's hand-over, after admission: nothing starts.)
          if (signal.aborted) return this.#onAbort();
          signal.addEventListener("abort", this.#onAbort, { once: true });
        }
        if (this.#deadline !== Infinity) {
          const now = clock.setTimerAt === undefined ? clock.now() : NaN;
          this.#deadlineTimer = timerAt(clock, this.#onDeadline, now, this.#deadline);
        }
        if (handed === undefined) {
          this.#start(false);
          return;
        }
        // The fast path ran attempt 1 (the circuit admitted it).
        this.started = 1;
        this.#lastStart = callStart;
        const first = handed instanceof FirstAttempt
          ? handed as unknown as FirstAttempt<unknown>
          : undefined;
        // A delay that follows latencies read the first attempt's start precisely.
        const observed = first?.observedStart ?? NaN;
        const start = observed === observed ? observed : callStart;
        const run = new HedgeAttempt(1, this.#deadline, start, undefined, first);
        this.#inFlight.add(run, clock.now(), this.#engine.attemptTimeoutMs, this.#timedOut);
        if (first === undefined) {
          const o = handed as AttemptOutcome<T>;
          this.#settled(run, o.threw, o.value, o.error, o.fired, o.verdict);
          return;
        }
        // Still running: its outcome comes here from now on.
        first.adopt = (threw, value, error) =>
          this.#settled(run, threw, value as T, error, FIRED.none, undefined);
        this.#onHedge();
      } catch (error) {
        this.#fail(error);
      }
    });
  }

  /**
   * Starts an attempt (a hedge when others are in flight), unless the
   * deadline passed or the circuit refuses it. Returns true if it started.
   */
  #start(hedge: boolean): boolean {
    const engine = this.#engine;
    const { clock, circuit, report } = engine;
    const tracer = this.#tracer;
    const now = clock.now();
    const alone = this.#inFlight.size === 0;
    if (now >= this.#deadline) {
      if (alone) this.#deadlineExceeded(now);
      return false;
    }
    if (circuit !== undefined && !admitAttempt(engine, circuit, tracer)) {
      if (alone) {
        this.outcome = "circuit_open";
        this.#fail(report.circuitOpen(circuit, this.#lastError));
      }
      return false;
    }
    if (hedge) {
      // A hedge the retry budget refuses is not sent; the call goes on.
      if (engine.retryBudget?.tryRetry() === false) {
        recordOutcome(engine, tracer, RECORD.release, 0, NaN);
        return false;
      }
      report.hedge(tracer, this.started + 1, now - this.#lastStart, now);
    }
    const attempt = ++this.started;
    this.#lastStart = now;
    tracer.attemptStart(attempt, now, hedge);
    const run = new HedgeAttempt(attempt, this.#deadline, now, this.#lastError, undefined);
    this.#inFlight.add(run, now, engine.attemptTimeoutMs, this.#timedOut);
    const operation = this.#operation;
    const context = new OperationContext(attempt, run);
    let result: T | PromiseLike<T>;
    try {
      result = tracer.wrapsAttempts
        ? tracer.runAttempt(() => operation(context))
        : operation(context);
    } catch (error) {
      this.#settled(run, true, undefined, error, FIRED.none, undefined);
      return true;
    }
    (result instanceof Promise ? result : Promise.resolve(result)).then(
      (value: T) => this.#settled(run, false, value, undefined, FIRED.none, undefined),
      (error: unknown) => this.#settled(run, true, undefined, error, FIRED.none, undefined),
    );
    this.#armHedge(now);
    return true;
  }

  /** An attempt's timeout elapsed: it failed with `AttemptTimeoutError`. */
  readonly #timedOut = (run: HedgeAttempt): void => {
    const reason = this.#engine.report.reasonFor(run, FIRED.attemptTimeout);
    run.abort(reason);
    this.#settled(run, true, undefined, reason, FIRED.attemptTimeout, undefined);
  };

  /** Arms the timer of the next hedge, if one may still start. */
  #armHedge(now: number): void {
    if (this.#done || this.#hedgeTimer !== undefined || this.#delayMs === Infinity) return;
    if (!this.#roomForHedge()) return;
    this.#hedgeTimer = timerAt(
      this.#engine.clock,
      this.#onHedge,
      now,
      this.#lastStart + this.#delayMs,
    );
  }

  #roomForHedge(): boolean {
    const inFlight = this.#inFlight.size;
    return !this.#stopped && inFlight > 0 && inFlight <= this.#engine.hedge!.maxHedges &&
      this.started < this.#maxAttempts;
  }

  /** The hedge delay passed: start another attempt beside those in flight. */
  readonly #onHedge = (): void => {
    this.#hedgeTimer = undefined;
    if (this.#done || !this.#roomForHedge()) return;
    this.#start(true);
  };

  /**
   * An attempt ended (an ended attempt's late outcome is ignored). Whatever
   * throws meanwhile (`discard`, a part, a backoff) ends the call with that
   * error, as in the loop.
   */
  #settled(
    run: HedgeAttempt,
    threw: boolean,
    value: T | undefined,
    error: unknown,
    fired: Fired,
    known: ErrorClass | undefined,
  ): void {
    if (this.#done || !this.#inFlight.take(run)) return;
    try {
      this.#ended(run, threw, value, error, fired, known);
    } catch (thrown) {
      if (this.#done) return;
      if (this.outcome === "success") this.outcome = "permanent_fail";
      this.#cancelOthers(run.attempt, this.#engine.clock.now(), false);
      this.#fail(thrown);
    }
  }

  /** The first success wins; a failure may start the next attempt. */
  #ended(
    run: HedgeAttempt,
    threw: boolean,
    value: T | undefined,
    error: unknown,
    fired: Fired,
    known: ErrorClass | undefined,
  ): void {
    const engine = this.#engine;
    const { clock, report } = engine;
    const tracer = this.#tracer;
    if (fired === FIRED.deadline) {
      // The fast path's deadline timer ended attempt 1.
      this.#deadlineExceeded(clock.now(), run, error);
      return;
    }
    if (fired === FIRED.attemptTimeout) report.attemptTimeout(tracer, run.attempt);
    const now = clock.now();
    const durationMs = now - run.start;
    let verdict: ErrorClass | "success";
    try {
      verdict = known ?? engine.classify(threw ? error : value);
      if (verdict !== "success" && !isErrorClass(verdict)) report.invalidClass(verdict);
    } catch (classifierError) {
      // A classifier bug ends the call with its error; the attempt has no outcome.
      tracer.attemptEnd(run.attempt, now, "unknown", classifierError);
      recordOutcome(engine, tracer, RECORD.release, 0, NaN);
      throw classifierError;
    }
    if (threw && verdict === "success") verdict = "unknown";
    if (verdict === "success") {
      tracer.attemptEnd(run.attempt, now, undefined, undefined);
      recordSuccess(engine, tracer, run.attempt, durationMs, now, now);
      engine.hedge!.record(durationMs);
      this.#cancelOthers(run.attempt, now, true);
      tracer.end(now, "success", this.started, undefined);
      this.#finish();
      this.#resolve!(value as T);
      return;
    }
    const failure = threw ? error : value;
    const index = CLASS_INDEX[verdict];
    tracer.attemptEnd(run.attempt, now, verdict, failure);
    recordOutcome(
      engine,
      tracer,
      index === PERMANENT ? RECORD.release : RECORD.failure,
      durationMs,
      now,
    );
    this.#lastError = failure;
    this.#lastClass = verdict;
    const decision = decide({
      errorClass: verdict,
      classFailures: ++this.#failures[index],
      attempt: this.started,
      maxAttempts: this.#maxAttempts,
      failure,
      deadline: this.#deadline,
      prevDelayMs: undefined,
      now,
      random: engine.random,
      label: engine.label,
      atOnce: true,
    }, engine.retry);
    if (decision.action === "permanent") {
      this.#cancelOthers(run.attempt, now, false);
      report.permanentFail(tracer, run.attempt, failure, now);
      this.outcome = "permanent_fail";
      if (threw) this.#fail(failure);
      else {
        tracer.end(now, "permanent_fail", this.started, undefined);
        this.#finish();
        this.#resolve!(value as T);
      }
      return;
    }
    if (this.#inFlight.size > 0) {
      // Another attempt may still succeed: this failure frees room for a
      // hedge, unless no further attempt may start (a budget used up).
      if (decision.action !== "retry") this.#stopped = true;
      if (!threw) this.#options?.discard?.(value);
      this.#armHedge(now);
      return;
    }
    if (decision.action === "deadline") {
      this.#deadlineExceeded(now);
      return;
    }
    if (decision.action === "give_up" || engine.retryBudget?.tryRetry() === false) {
      const reason = decision.action === "give_up" ? decision.reason : "retry_budget";
      this.outcome = GIVE_UP_EVENT[reason];
      this.#fail(
        report.giveUp(
          tracer,
          reason,
          this.started,
          verdict,
          failure,
          threw,
          value,
          now,
          this.#maxAttempts,
        ),
      );
      return;
    }
    // Nothing else in flight: the next attempt starts at once.
    report.retry(tracer, run.attempt, verdict, failure, 0, now);
    if (!threw) this.#options?.discard?.(value);
    this.#start(false);
  }

  /**
   * Aborts every attempt still in flight: attempt `winner` ended the call.
   * When it `won`, a loser that ran past the hedge delay is recorded by a
   * percentile delay at its time so far (its latency is at least that):
   * recording winners only would cut the slow tail out of the histogram and
   * drift the delay low.
   */
  #cancelOthers(winner: number, now: number, won: boolean): void {
    const engine = this.#engine;
    this.#inFlight.endAll((run) => engine.report.hedgeCancelled(run.attempt, winner), (run) => {
      recordOutcome(engine, this.#tracer, RECORD.release, 0, NaN);
      this.#tracer.attemptCancelled(run.attempt, now);
      const elapsed = now - run.start;
      if (won && elapsed >= this.#delayMs) engine.hedge!.record(elapsed);
    });
  }

  /** The deadline passed: every attempt in flight (and `ended`, if given) failed with it. */
  #deadlineExceeded(now: number, ended?: HedgeAttempt, endedError?: unknown): void {
    const engine = this.#engine;
    const tracer = this.#tracer;
    const reason = endedError ?? engine.report.deadlineError(
      this.started,
      this.#deadline,
      this.#lastError,
    );
    // One failure per call, as in the loop: the attempt that ran longest
    // (the first in flight) counts; the others' half-open probes are freed.
    let counted = false;
    const failed = (run: HedgeAttempt) => {
      tracer.attemptEnd(run.attempt, now, "transient", reason);
      const kind = counted ? RECORD.release : RECORD.failure;
      recordOutcome(engine, tracer, kind, now - run.start, now);
      counted = true;
    };
    if (ended !== undefined) failed(ended);
    this.#inFlight.endAll(() => reason, failed);
    engine.report.deadlineEvent(tracer, this.started, this.#lastError, this.#lastClass, now);
    this.outcome = "deadline_exceeded";
    this.#fail(reason);
  }

  readonly #onDeadline = (): void => {
    this.#deadlineTimer = undefined;
    if (!this.#done) this.#deadlineExceeded(this.#engine.clock.now());
  };

  /** The caller aborted: every attempt in flight stops, with no outcome recorded. */
  readonly #onAbort = (): void => {
    if (this.#done) return;
    const engine = this.#engine;
    const reason = this.#options!.signal!.reason;
    this.#inFlight.endAll(() => reason, (run) => {
      recordOutcome(engine, this.#tracer, RECORD.release, 0, NaN);
      engine.report.attemptCancelled(this.#tracer, run.attempt, reason);
    });
    this.outcome = "cancelled";
    this.#fail(reason);
  };

  #finish(): void {
    this.#done = true;
    const clock = this.#engine.clock;
    if (this.#hedgeTimer !== undefined) clock.clearTimer(this.#hedgeTimer);
    if (this.#deadlineTimer !== undefined) clock.clearTimer(this.#deadlineTimer);
    this.#options?.signal?.removeEventListener("abort", this.#onAbort);
  }

  #fail(error: unknown): void {
    if (this.#done) return;
    this.#finish();
    this.#reject!(error);
  }
}
