/**
 * The fast path's first attempt: the whole per-call state of a call whose
 * first attempt runs without an async frame (see `engine.ts`).
 *
 * @module
 */

import type { TimerId, WheelTimers } from "../core/clock.ts";
import {
  abortOnce,
  type AttemptContext,
  type AttemptInfo,
  type ContextSource,
  type Operation,
} from "./attempt.ts";
import type { ExecuteOptions } from "./options.ts";
import type { CallTracer } from "./parts.ts";
import { NOOP_TRACER } from "./report.ts";
import { FIRED, type Fired, type TimerKind } from "./outcome.ts";

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
  /** The call's `execute` options (the loop applies them after a failure). */
  readonly options: ExecuteOptions<T> | undefined;
  /** What every first attempt of the policy shares. */
  readonly shared: FirstAttemptShared;
  /** True once the attempt's outcome (or its timer) was taken. */
  settled = false;
  /** Which timer aborted the attempt. */
  fired: Fired = FIRED.none;
  resolve: ((value: T | PromiseLike<T>) => void) | undefined;
  reject: ((reason: unknown) => void) | undefined;
  // StampedEntry, owned by the wheel (or `start` set once from a clock read).
  done = false;
  slot = 0;
  tick = 0;
  generation = 0;
  start = NaN;
  delayMs = 0;
  /** True when the timer is the hedge delay (shorter than the call's limit). */
  hedging = false;
  /** The start read for a hedge delay that follows latencies (NaN: not read). */
  observedStart = NaN;
  /** The call's tracer ({@link NOOP_TRACER} when nobody traces it). */
  tracer: CallTracer = NOOP_TRACER;
  /** After a hedge took the attempt over: where its outcome goes. */
  adopt: ((threw: boolean, value: unknown, error: unknown) => void) | undefined = undefined;

  #controller: AbortController | undefined;

  constructor(
    operation: Operation<T>,
    options: ExecuteOptions<T> | undefined,
    shared: FirstAttemptShared,
  ) {
    this.operation = operation;
    this.options = options;
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
  /** Which limit the first attempt's timer is: the deadline or the attempt timeout. */
  readonly kind: TimerKind;
  /** The wheel that stamps the start; undefined: the clock is read up front. */
  readonly timers: WheelTimers | undefined;
  /** Called when the timer fires (the engine's handler). */
  readonly fire: (first: FirstAttempt<unknown>) => void;
}
