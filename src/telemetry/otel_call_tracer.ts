/**
 * One call's spans and metrics: the {@link CallTracer} that
 * {@link OtelObserver} hands the engine for a call it follows.
 *
 * @module
 */

import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { ErrorClass } from "../core/error_class.ts";
import type { ResilienceEvent } from "../core/events.ts";
import type { CallOutcome, CallTracer } from "../engine/parts.ts";
import { errorType } from "./error_type.ts";
import type { OtelObserver } from "./otel_observer.ts";
import type { SpanMode } from "./telemetry_options.ts";

/** `fn` for `context.with`, remembering whether it was entered and how it ended. */
class GuardedRun<T> {
  readonly #fn: () => T;
  #entered = false;
  #threw = false;
  #value: T | undefined;
  #error: unknown;

  constructor(fn: () => T) {
    this.#fn = fn;
  }

  /** Runs `fn`. */
  readonly call = (): T => {
    this.#entered = true;
    try {
      return this.#value = this.#fn();
    } catch (error) {
      this.#threw = true;
      this.#error = error;
      throw error;
    }
  };

  /**
   * After `context.with` threw: runs `fn` directly if it was never entered,
   * else returns or rethrows what `fn` itself produced.
   */
  settle(): T {
    if (!this.#entered) return this.#fn();
    if (this.#threw) throw this.#error;
    return this.#value as T;
  }
}

/** An attempt still open while a later one (a hedge) runs: its start, kind and span. */
interface OpenAttempt {
  readonly start: number;
  readonly hedge: boolean;
  readonly span: Span | undefined;
}

/** One call's spans and metrics. */
export class OtelCallTracer implements CallTracer {
  readonly #observer: OtelObserver;
  readonly #tracer: Tracer | undefined;
  readonly #parent: Context;
  readonly #start: number;
  /** In `"failures"` mode, false until the first failure. */
  #tracing: boolean;
  /**
   * False while a `"failures"` call has not failed: such a call records only
   * its duration, not its attempts' durations nor its success event.
   */
  #detailed: boolean;
  #callSpan: Span | undefined;
  // The attempt started last; earlier ones still open (hedged calls) wait in #open.
  #attemptSpan: Span | undefined;
  #attemptStart = 0;
  #attemptNo = 0;
  #attemptHedge = false;
  #open: Map<number, OpenAttempt> | undefined;
  /** `"failures"` mode: a hedged call's hedge events before its first failure. */
  #early: ResilienceEvent[] | undefined;
  #lastError: unknown;

  constructor(observer: OtelObserver, tracer: Tracer | undefined, mode: SpanMode, time: number) {
    this.#observer = observer;
    this.#tracer = tracer;
    this.#parent = context.active();
    this.#start = time;
    this.#tracing = tracer !== undefined && mode === "full";
    this.#detailed = mode !== "failures";
    if (this.#tracing) this.#callSpan = this.#startCallSpan();
  }

  /** The call span, if one exists yet. */
  get span(): Span | undefined {
    return this.#callSpan;
  }

  get startTime(): number {
    return this.#start;
  }

  get wrapsAttempts(): boolean {
    return this.#tracing;
  }

  #startCallSpan(): Span {
    return this.#tracer!.startSpan(this.#observer.policy, {
      kind: SpanKind.INTERNAL,
      startTime: this.#start,
      attributes: { "bulwark.policy.name": this.#observer.policy },
    }, this.#parent);
  }

  #startAttemptSpan(attempt: number, time: number, hedge: boolean): Span {
    const attributes: Attributes = { "bulwark.attempt": attempt };
    if (hedge) attributes["bulwark.attempt.hedge"] = true;
    return this.#tracer!.startSpan(`${this.#observer.policy} attempt`, {
      kind: SpanKind.INTERNAL,
      startTime: time,
      attributes,
    }, trace.setSpan(this.#parent, this.#callSpan!));
  }

  #startAttempt(attempt: number, time: number, hedge: boolean): void {
    if (this.#attemptNo !== 0) {
      // An attempt is still open: a hedge starts beside it.
      (this.#open ??= new Map()).set(this.#attemptNo, {
        start: this.#attemptStart,
        hedge: this.#attemptHedge,
        span: this.#attemptSpan,
      });
      this.#attemptSpan = undefined;
    }
    this.#attemptNo = attempt;
    this.#attemptStart = time;
    this.#attemptHedge = hedge;
    if (this.#tracing) this.#attemptSpan = this.#startAttemptSpan(attempt, time, hedge);
  }

  /** Takes attempt `attempt` out of the open ones: its start and span. */
  #take(attempt: number): OpenAttempt | undefined {
    if (attempt === this.#attemptNo) {
      const open = {
        start: this.#attemptStart,
        hedge: this.#attemptHedge,
        span: this.#attemptSpan,
      };
      this.#attemptNo = 0;
      this.#attemptSpan = undefined;
      return open;
    }
    const open = this.#open?.get(attempt);
    this.#open?.delete(attempt);
    return open;
  }

  // The engine calls these synchronously inside the call. Each one isolates
  // failures of the OpenTelemetry SDK (a broken tracer, exporter or context
  // manager), so telemetry can never change a call's outcome.

  attemptStart(attempt: number, time: number, hedge = false): void {
    try {
      this.#startAttempt(attempt, time, hedge);
    } catch {
      this.#attemptSpan = undefined;
    }
  }

  attemptCancelled(attempt: number, time: number): void {
    try {
      const span = this.#take(attempt)?.span;
      span?.setAttribute("bulwark.attempt.cancelled", true);
      span?.end(time);
    } catch {
      // see above
    }
  }

  /**
   * Runs `fn` with the attempt span active. A context manager whose `with()`
   * throws never fails the attempt nor runs it twice: if `fn` was not
   * entered it is called directly; if it was, its own result (value or
   * thrown error) stands and the error of `with()` is dropped.
   */
  runAttempt<T>(fn: () => T): T {
    const span = this.#attemptSpan;
    if (span === undefined) return fn();
    let active: Context;
    try {
      active = trace.setSpan(this.#parent, span);
    } catch {
      return fn();
    }
    const run = new GuardedRun(fn);
    try {
      return context.with(active, run.call);
    } catch {
      return run.settle();
    }
  }

  attemptEnd(
    attempt: number,
    time: number,
    errorClass: ErrorClass | undefined,
    error: unknown,
  ): void {
    try {
      this.#attemptEnd(attempt, time, errorClass, error);
    } catch {
      this.#attemptSpan = undefined;
    }
  }

  event(event: ResilienceEvent): void {
    try {
      this.#event(event);
    } catch {
      // see above
    }
  }

  end(time: number, outcome: CallOutcome, attempts: number, error: unknown): void {
    try {
      this.#end(time, outcome, attempts, error);
    } catch {
      // see above
    }
  }

  #attemptEnd(
    attempt: number,
    time: number,
    errorClass: ErrorClass | undefined,
    error: unknown,
  ): void {
    const observer = this.#observer;
    const inst = observer.instruments;
    let start: number;
    let span: Span | undefined;
    let hedge = false;
    if (attempt === this.#attemptNo) {
      // The attempt started last (always, but in a hedged call): no object to take.
      start = this.#attemptStart;
      span = this.#attemptSpan;
      hedge = this.#attemptHedge;
      this.#attemptNo = 0;
      this.#attemptSpan = undefined;
    } else {
      const open = this.#take(attempt);
      start = open?.start ?? time;
      span = open?.span;
      hedge = open?.hedge ?? false;
    }
    if (errorClass !== undefined) this.#detailed = true;
    if (inst !== undefined && this.#detailed) {
      try {
        inst.attemptDuration.record(
          (time - start) / 1000,
          errorClass === undefined
            ? observer.successAttrs.attempt
            : observer.attrs(`attempt|${errorClass}`, () => ({
              "bulwark.policy.name": observer.policy,
              "bulwark.attempt.outcome": "failure",
              "bulwark.error.class": errorClass,
            })),
        );
      } catch {
        // A broken meter loses its metrics, not the spans.
      }
    }
    if (errorClass !== undefined) {
      this.#lastError = error;
      if (!this.#tracing && this.#tracer !== undefined) {
        // "failures" mode: the first failure creates the call span and the
        // spans of this attempt and of those still open, retroactively, with
        // their true start times.
        this.#startTracingLate();
        span = this.#startAttemptSpan(attempt, start, hedge);
      }
    }
    if (span === undefined) return;
    if (errorClass !== undefined) {
      span.setAttribute("bulwark.error.class", errorClass);
      span.setAttribute("error.type", errorType(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(time);
  }

  /** `"failures"` mode, at the first failure: the call span, open attempts' spans, early events. */
  #startTracingLate(): void {
    this.#tracing = true;
    const span = this.#callSpan = this.#startCallSpan();
    if (this.#attemptNo !== 0) {
      this.#attemptSpan = this.#startAttemptSpan(
        this.#attemptNo,
        this.#attemptStart,
        this.#attemptHedge,
      );
    }
    const open = this.#open;
    if (open !== undefined) {
      for (const [attempt, o] of open) {
        open.set(attempt, { ...o, span: this.#startAttemptSpan(attempt, o.start, o.hedge) });
      }
    }
    for (const event of this.#early?.splice(0) ?? []) this.#spanEvent(span, event);
  }

  #event(event: ResilienceEvent): void {
    const observer = this.#observer;
    switch (event.type) {
      case "circuit_transition":
      case "failure_budget_breach":
      case "failure_budget_recovered":
        observer.partEvent(event, this.#callSpan);
        return;
    }
    try {
      observer.countEvent(event);
      if (event.type === "retry") {
        observer.instruments?.retryDelay.record(
          event.delayMs / 1000,
          observer.attrs(`delay|${event.errorClass}`, () => ({
            "bulwark.policy.name": observer.policy,
            "bulwark.error.class": event.errorClass,
          })),
        );
      }
    } catch {
      // A broken meter loses its metrics, not the spans.
    }
    const span = this.#callSpan;
    if (span !== undefined) this.#spanEvent(span, event);
    else if (event.type === "hedge" && this.#tracer !== undefined) {
      (this.#early ??= []).push(event); // shown if the call fails later
    }
  }

  /** Adds `event` to the call span. */
  #spanEvent(span: Span, event: ResilienceEvent): void {
    const attributes: Attributes = {};
    if ("attempt" in event) attributes["bulwark.attempt"] = event.attempt;
    if ("errorClass" in event && event.errorClass !== undefined) {
      attributes["bulwark.error.class"] = event.errorClass;
    }
    if (event.type === "retry") attributes["bulwark.retry.delay_ms"] = event.delayMs;
    if (event.type === "attempt_timeout") attributes["bulwark.timeout_ms"] = event.timeoutMs;
    if (event.type === "hedge") attributes["bulwark.hedge.delay_ms"] = event.delayMs;
    if (event.type === "rate_limited") attributes["bulwark.retry_after_ms"] = event.retryAfterMs;
    if (event.type === "fallback") {
      attributes["bulwark.fallback.reason"] = event.reason;
      attributes["bulwark.attempts"] = event.attempts;
      span.setAttribute("bulwark.fallback", true);
    }
    span.addEvent(`bulwark.${event.type}`, attributes, event.timestamp);
  }

  #end(time: number, outcome: CallOutcome, attempts: number, error: unknown): void {
    const observer = this.#observer;
    const failed = outcome !== "success";
    const cause = error !== undefined ? error : this.#lastError;
    const type = failed ? errorType(cause) : undefined;
    const inst = observer.instruments;
    if (inst !== undefined) {
      try {
        // The call's success event (a "failures" call counts it only once it has failed).
        if (!failed && this.#detailed) inst.events.add(1, observer.successAttrs.event);
      } catch {
        // A broken meter loses its metrics, not the spans.
      }
      try {
        inst.callDuration.record(
          (time - this.#start) / 1000,
          outcome === "success"
            ? observer.successAttrs.call
            : observer.attrs(`call|${outcome}|${type ?? ""}`, () => {
              const a: Attributes = {
                "bulwark.policy.name": observer.policy,
                "bulwark.outcome": outcome,
              };
              if (type !== undefined) a["error.type"] = type;
              return a;
            }),
        );
      } catch {
        // (as above)
      }
    }
    const span = this.#callSpan;
    if (span === undefined) return;
    span.setAttribute("bulwark.attempts", attempts);
    span.setAttribute("bulwark.outcome", outcome);
    if (failed && outcome !== "cancelled") {
      span.setAttribute("error.type", type!);
      span.setStatus({ code: SpanStatusCode.ERROR });
      if (cause instanceof Error) span.recordException(cause, time);
    }
    span.end(time);
  }
}
