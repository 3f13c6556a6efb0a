/**
 * A coarse, shared timer for deadlines, attempt timeouts and other
 * watchdog-style timers: one runtime timer serves every pending entry, so
 * arming a deadline costs a bucket insert instead of a `setTimeout`.
 *
 * @module
 */

/** A scheduled callback. */
export interface WheelEntry {
  /** Called once when the entry falls due. */
  readonly callback: () => void;
  /** True once the entry fired or was cancelled. */
  done: boolean;
}

/** Options of {@link TimerWheel}. */
export interface TimerWheelOptions {
  /** Bucket width in milliseconds: entries fire at most about one tick late. Default 5. */
  tickMs?: number;
  /** Current time in milliseconds. Default `Date.now`. */
  now?: () => number;
}

/**
 * A hashed timing wheel (after Varghese and Lauck, "Hashed and Hierarchical
 * Timing Wheels", SOSP 1987), reduced to a map from tick number to entries.
 *
 * - An entry never fires before its delay, and fires at most one tick (plus
 *   the event loop's own latency) after it.
 * - One `setInterval` runs while entries are pending. When the last entry is
 *   cancelled, the wheel checks once the current macrotask is over and stops
 *   if it is still idle — so back-to-back calls that each arm and cancel a
 *   deadline within one turn of the event loop share one runtime timer, and
 *   nothing is left pending once the caller yields.
 * - So the wheel keeps a process alive only while a timer is pending (as a
 *   `setTimeout` would), never once everything is done.
 */
export class TimerWheel {
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<number, WheelEntry[]>();
  #live = 0;
  #handle: ReturnType<typeof setInterval> | undefined;
  /** Every tick up to and including this one has been processed. */
  #doneTick = 0;
  readonly #onTick = () => this.runDue();
  #idleCheck = false;
  readonly #onIdleCheck = () => {
    this.#idleCheck = false;
    if (this.#live === 0) this.stop();
  };
  #armed = 0;

  /** Creates an idle wheel. */
  constructor(options: TimerWheelOptions = {}) {
    this.#tickMs = options.tickMs ?? 5;
    this.#now = options.now ?? Date.now;
  }

  /** Bucket width in milliseconds. */
  get tickMs(): number {
    return this.#tickMs;
  }

  /** Entries scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.#live;
  }

  /** True while the wheel's runtime timer is armed. */
  get running(): boolean {
    return this.#handle !== undefined;
  }

  /** How many times the runtime timer was armed (for tests and benchmarks). */
  get armCount(): number {
    return this.#armed;
  }

  /** Schedules `callback` to run after at least `delayMs`. */
  schedule(callback: () => void, delayMs: number): WheelEntry {
    const entry: WheelEntry = { callback, done: false };
    const now = this.#now();
    if (this.#handle === undefined) this.#arm(now);
    // The first tick boundary at or after now + delay; never one already processed.
    let tick = Math.ceil((now + (delayMs > 0 ? delayMs : 0)) / this.#tickMs);
    if (tick <= this.#doneTick) tick = this.#doneTick + 1;
    const bucket = this.#buckets.get(tick);
    if (bucket === undefined) this.#buckets.set(tick, [entry]);
    else bucket.push(entry);
    this.#live++;
    return entry;
  }

  /** Cancels an entry (a no-op once it fired or was cancelled). */
  cancel(entry: WheelEntry): void {
    if (entry.done) return;
    entry.done = true;
    if (--this.#live === 0 && !this.#idleCheck) {
      this.#idleCheck = true;
      setImmediate(this.#onIdleCheck);
    }
  }

  /** Stops the runtime timer now and forgets every entry (they never fire). */
  stop(): void {
    if (this.#handle !== undefined) clearInterval(this.#handle);
    this.#handle = undefined;
    this.#buckets.clear();
    this.#live = 0;
  }

  #arm(now: number): void {
    this.#doneTick = Math.floor(now / this.#tickMs);
    this.#handle = setInterval(this.#onTick, this.#tickMs);
    this.#armed++;
  }

  /**
   * Fires every entry whose tick has passed. The wheel's interval calls it
   * each tick; tests with an injected `now` call it directly.
   */
  runDue(): void {
    if (this.#live === 0) {
      this.stop();
      return;
    }
    const current = Math.floor(this.#now() / this.#tickMs);
    for (let t = this.#doneTick + 1; t <= current; t++) {
      this.#doneTick = t;
      const bucket = this.#buckets.get(t);
      if (bucket === undefined) continue;
      this.#buckets.delete(t);
      for (const entry of bucket) {
        if (entry.done) continue;
        entry.done = true;
        this.#live--;
        try {
          entry.callback();
        } catch (error) {
          // One failing callback must not starve the others; surface it the
          // way the runtime surfaces an error thrown from a timer.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
    if (this.#live === 0) this.stop();
  }
}
