/**
 * A coarse, shared timer for deadlines and attempt timeouts: one runtime
 * timer serves every pending deadline, so a call costs a bucket insert
 * instead of a `setTimeout`. It stops when nothing is pending, so it never
 * keeps a process alive on its own.
 *
 * @module
 */

/** A scheduled callback; `cancelled` is set by {@link TimerWheel.cancel}. */
export interface WheelEntry {
  /** Called once when the entry falls due. */
  callback: () => void;
  /** Set when the entry was cancelled (it is dropped lazily). */
  cancelled: boolean;
}

/** Options of {@link TimerWheel}. */
export interface TimerWheelOptions {
  /** Bucket width in milliseconds: entries fire at most one tick late. Default 10. */
  tickMs?: number;
  /** Current time in milliseconds. */
  now: () => number;
}

/**
 * A hashed timing wheel (Varghese and Lauck, "Hashed and Hierarchical Timing
 * Wheels", SOSP 1987), simplified to a map from tick number to entries.
 * Entries fire no earlier than their delay and at most one tick plus the
 * event loop's own latency after it.
 */
export class TimerWheel {
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #buckets = new Map<number, WheelEntry[]>();
  #live = 0;
  #handle: ReturnType<typeof setInterval> | undefined;
  /** Every tick up to and including this one has been processed. */
  #doneTick = -1;
  readonly #onTick = () => this.#tick();

  /** Creates an idle wheel. */
  constructor(options: TimerWheelOptions) {
    this.#tickMs = options.tickMs ?? 10;
    this.#now = options.now;
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

  /** Schedules `callback` to run after at least `delayMs`. */
  schedule(callback: () => void, delayMs: number): WheelEntry {
    const entry: WheelEntry = { callback, cancelled: false };
    const now = this.#now();
    // The first tick that starts at or after now + delay.
    const due = Math.ceil((now + (delayMs > 0 ? delayMs : 0)) / this.#tickMs);
    const tick = due > this.#doneTick ? due : this.#doneTick + 1;
    const bucket = this.#buckets.get(tick);
    if (bucket === undefined) this.#buckets.set(tick, [entry]);
    else bucket.push(entry);
    this.#live++;
    if (this.#handle === undefined) this.#arm(now);
    return entry;
  }

  /** Cancels an entry; stops the runtime timer when nothing is left. */
  cancel(entry: WheelEntry): void {
    if (entry.cancelled) return;
    entry.cancelled = true;
    if (--this.#live === 0) this.#stop();
  }

  #arm(now: number): void {
    if (this.#doneTick < 0) this.#doneTick = Math.floor(now / this.#tickMs) - 1;
    this.#handle = setInterval(this.#onTick, this.#tickMs);
  }

  #stop(): void {
    if (this.#handle !== undefined) clearInterval(this.#handle);
    this.#handle = undefined;
    this.#buckets.clear();
    this.#doneTick = -1;
  }

  #tick(): void {
    const current = Math.floor(this.#now() / this.#tickMs);
    for (let t = this.#doneTick + 1; t <= current && this.#live > 0; t++) {
      const bucket = this.#buckets.get(t);
      this.#doneTick = t;
      if (bucket === undefined) continue;
      this.#buckets.delete(t);
      for (const entry of bucket) {
        if (entry.cancelled) continue;
        entry.cancelled = true;
        this.#live--;
        try {
          entry.callback();
        } catch (error) {
          // A failing callback must not starve the others; report it the way
          // the runtime reports an error thrown from a timer.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
    if (this.#live === 0) this.#stop();
    else this.#doneTick = Math.max(this.#doneTick, current);
  }
}
