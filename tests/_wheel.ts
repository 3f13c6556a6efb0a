// Shared helpers for tests that drive a timer wheel by hand and the engine on
// top of it (not part of the package): tests/core/timer_wheel_test.ts and the
// tests in tests/engine/.
import { type StampedEntry, TimerWheel } from "../src/core/timer_wheel.ts";
import { type Clock, wheelClock } from "../src/core/clock.ts";
import {
  type AttemptContext,
  DeadlineExceededError,
  PermanentError,
  type ResilienceEvent,
  TransientError,
} from "../mod.ts";

// ---------------------------------------------------------------------------
// Choosing the engine's path
// ---------------------------------------------------------------------------

/**
 * `execute` options that send a call through the general loop: a signal of
 * its own (never aborted) is the one thing that keeps a call off the fast
 * path (`execute(fn)` and `execute(fn, {})` both take it).
 */
export function viaLoop(): { signal: AbortSignal } {
  return { signal: new AbortController().signal };
}

// ---------------------------------------------------------------------------
// Letting callbacks run
// ---------------------------------------------------------------------------

/**
 * Lets pending promise callbacks run. Microtasks only: no runtime timer (so
 * no real tick of a wheel's interval) can run in between.
 */
export async function flush(): Promise<void> {
  for (let i = 0; i < 100; i++) await Promise.resolve();
}

/** Lets one macrotask pass (a wheel's idle check runs). */
export function macrotask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Records unhandled promise rejections, so that they do not fail the test,
 * until `stop()` is called.
 */
export function captureUnhandled(): { reasons: unknown[]; stop: () => void } {
  const reasons: unknown[] = [];
  const onUnhandled = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    reasons.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onUnhandled);
  return {
    reasons,
    stop: () => globalThis.removeEventListener("unhandledrejection", onUnhandled),
  };
}

// ---------------------------------------------------------------------------
// A wheel on hand-moved time
// ---------------------------------------------------------------------------

/** A wheel and a wheel clock on one hand-moved time; see {@link manual}. */
export interface ManualWheel {
  wheel: TimerWheel;
  clock: Clock;
  /** How often the wheel and the clock have read the time. */
  reads: { wheel: number; clock: number };
  /** The current wheel time (not counted as a read). */
  now: () => number;
  /** Moves time without a tick (the interval has not fired yet). */
  set: (t: number) => void;
  /** A tick at `t`, then pending promise callbacks run. */
  at: (t: number) => Promise<void>;
  /** A tick at `t` and nothing else: no promise callback runs (for the wheel alone). */
  tick: (t: number) => void;
  resetReads: () => void;
}

/**
 * A wheel and a wheel clock on one hand-moved time (clock time = wheel time +
 * `origin`, as the system clock is built), counting how often each reads it.
 * Time starts at 1000. `at(t)` stands in for the wheel's interval: it moves
 * time, runs the wheel and lets promise callbacks run.
 */
export function manual(tickMs = 10, origin = 0): ManualWheel {
  let now = 1_000;
  const reads = { wheel: 0, clock: 0 };
  const wheel = new TimerWheel({
    tickMs,
    now: () => {
      reads.wheel++;
      return now;
    },
  });
  const clock = wheelClock(wheel, () => {
    reads.clock++;
    return now + origin;
  }, origin);
  return {
    wheel,
    clock,
    reads,
    now: () => now,
    set: (t: number) => {
      now = t;
    },
    at: async (t: number) => {
      now = t;
      wheel.runDue();
      await flush();
    },
    tick: (t: number) => {
      now = t;
      wheel.runDue();
    },
    resetReads: () => {
      reads.wheel = 0;
      reads.clock = 0;
    },
  };
}

/** Ends a test: the wheel forgets what is left and its idle check runs, so no timer leaks. */
export async function finish(wheel: TimerWheel): Promise<void> {
  wheel.stop();
  await macrotask();
}

/** A caller-allocated entry for `scheduleFromNow`, logging the wheel time it fires at. */
export function stamped(
  name: string,
  fired: Array<[string, number]>,
  now: () => number,
): StampedEntry {
  return {
    callback() {
      fired.push([name, now()]);
    },
    done: false,
    slot: 0,
    tick: 0,
    generation: 0,
    start: NaN,
    delayMs: 0,
  };
}

// ---------------------------------------------------------------------------
// Calls: following them, scripting their attempts, describing them in a line
// ---------------------------------------------------------------------------

/** How a promise followed by {@link track} has settled so far. */
export interface Tracked<T> {
  settled: boolean;
  ok: boolean;
  value: T | undefined;
  error: unknown;
}

/** Follows a promise so a test can check synchronously whether (and how) it settled. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const state: Tracked<T> = { settled: false, ok: false, value: undefined, error: undefined };
  promise.then(
    (value) => {
      state.settled = true;
      state.ok = true;
      state.value = value;
    },
    (error) => {
      state.settled = true;
      state.error = error;
    },
  );
  return state;
}

/** What an attempt of {@link scripted} does. */
export type Step =
  | "ok" // resolves with `ok <attempt>`
  | "value" // returns `value <attempt>` (not a promise)
  | "hang" // never settles
  | "transient" // rejects with a TransientError
  | "throw" // throws a TransientError synchronously
  | "permanent" // rejects with a PermanentError
  | "throw-permanent" // throws a PermanentError synchronously
  | "unknown" // rejects with a plain Error
  | "500"; // resolves with a failing value ({ status: 500 })

/** An operation of {@link scripted} and the attempts it has seen. */
export interface Scripted {
  fn: (ctx: AttemptContext) => unknown;
  attempts: Array<{ attempt: number; at: number; signal: AbortSignal }>;
}

/** An operation that follows `steps`, one per attempt (then "ok"), recording each attempt. */
export function scripted(time: () => number, steps: readonly Step[]): Scripted {
  const attempts: Array<{ attempt: number; at: number; signal: AbortSignal }> = [];
  const fn = (ctx: AttemptContext): unknown => {
    attempts.push({ attempt: ctx.attempt, at: time(), signal: ctx.signal });
    const n = ctx.attempt;
    switch (steps[attempts.length - 1] ?? "ok") {
      case "ok":
        return Promise.resolve(`ok ${n}`);
      case "value":
        return `value ${n}`;
      case "hang":
        return new Promise<never>(() => {});
      case "transient":
        return Promise.reject(new TransientError(`transient ${n}`));
      case "throw":
        throw new TransientError(`thrown ${n}`);
      case "permanent":
        return Promise.reject(new PermanentError(`permanent ${n}`));
      case "throw-permanent":
        throw new PermanentError(`thrown permanent ${n}`);
      case "unknown":
        return Promise.reject(new Error(`unknown ${n}`));
      case "500":
        return Promise.resolve({ status: 500 });
    }
  };
  return { fn, attempts };
}

/** An event in one line: type@timestamp #attempt, then class, delay or timeout. */
export function line(event: ResilienceEvent): string {
  const e = event as unknown as Record<string, unknown>;
  let s = `${e.type}@${e.timestamp}`;
  if (e.attempt !== undefined) s += ` #${e.attempt}`;
  if (e.errorClass !== undefined) s += ` ${e.errorClass}`;
  if (e.delayMs !== undefined) s += ` +${e.delayMs}`;
  if (e.timeoutMs !== undefined) s += ` timeout ${e.timeoutMs}`;
  if (e.state !== undefined) s += ` ${e.state}`;
  if (e.from !== undefined) s += ` ${e.from}->${e.to}`;
  return s;
}

/** A call's outcome in one line. */
export function outcome(ok: boolean, value: unknown, error: unknown): string {
  if (ok) return `value ${JSON.stringify(value)}`;
  const e = error as Error;
  const deadline = e instanceof DeadlineExceededError ? ` (deadline ${e.deadline})` : "";
  return `${e.name}: ${e.message}${deadline}`;
}
