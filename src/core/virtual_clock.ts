/**
 * A deterministic clock for tests and simulation: time moves only when the
 * test calls {@link VirtualClock.advance} or {@link VirtualClock.runAll}.
 *
 * @module
 */

import { type Clock, sleepWith, type TimerId } from "./clock.ts";
import { integerAtLeast, numberAtLeast } from "./validate.ts";

interface VirtualTimer {
  readonly id: TimerId;
  readonly at: number;
  readonly seq: number;
  readonly callback: () => void;
}

/** Options of {@link VirtualClock.runAll}. */
export interface RunAllOptions {
  /** Most timers to fire before giving up with an error. Default 100,000. */
  maxTimers?: number;
}

/** Lets every queued microtask (and the promise chains they start) run. */
function drainMicrotasks(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

function earlier(a: VirtualTimer, b: VirtualTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A clock whose time is advanced by hand. Timers fire in time order (ties in
 * the order they were set) and promise callbacks run between them, so code
 * under test behaves as it would in real time, only instantly and
 * deterministically.
 *
 * @example Three seconds pass in no time
 * ```ts
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * let woke = -1;
 * const sleeping = clock.sleep(3_000).then(() => (woke = clock.now()));
 * await clock.advance(5_000);
 * await sleeping;
 * assert.equal(woke, 3_000);
 * assert.equal(clock.now(), 5_000);
 * ```
 */
export class VirtualClock implements Clock {
  #now: number;
  #heap: VirtualTimer[] = [];
  #live = new Set<TimerId>();
  #nextId = 1;
  #seq = 0;
  #created = 0;

  /** Creates a clock reading `startMs` (default 0). */
  constructor(startMs = 0) {
    this.#now = numberAtLeast("startMs", startMs, Number.MIN_SAFE_INTEGER);
  }

  /** The current virtual time. */
  now(): number {
    return this.#now;
  }

  /** Number of timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#live.size;
  }

  /** Number of timers ever set on this clock (sleeps included). */
  get timersCreated(): number {
    return this.#created;
  }

  /** Sleeps in virtual time; see {@link Clock.sleep}. */
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepWith(this, ms, signal);
  }

  /** Sets a virtual timer; see {@link Clock.setTimer}. */
  setTimer(callback: () => void, ms: number): TimerId {
    const id = this.#nextId++;
    const delay = ms > 0 ? ms : 0;
    this.#push({ id, at: this.#now + delay, seq: this.#seq++, callback });
    this.#live.add(id);
    this.#created++;
    return id;
  }

  /** Sets a virtual timer at an absolute time; see {@link Clock.setTimerAt}. */
  setTimerAt(callback: () => void, at: number): TimerId {
    return this.setTimer(callback, at - this.#now);
  }

  /** Clears a virtual timer; see {@link Clock.clearTimer}. */
  clearTimer(id: TimerId): void {
    if (!this.#live.delete(id)) return;
    // Cleared timers leave the heap lazily; rebuild it when they dominate so
    // a long simulation that clears most of its timers stays small.
    const heap = this.#heap;
    if (heap.length > 64 && heap.length > 4 * this.#live.size) {
      const kept = heap.filter((t) => this.#live.has(t.id));
      heap.length = 0;
      for (const t of kept) this.#push(t);
    }
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due in time
   * order and letting promise callbacks run after each one. Ends at
   * `now() + ms` even when no timer is due.
   */
  async advance(ms: number): Promise<void> {
    numberAtLeast("ms", ms, 0);
    const target = this.#now + ms;
    await drainMicrotasks();
    for (;;) {
      const next = this.#peek();
      if (next === undefined || next.at > target) break;
      this.#fire(next);
      await drainMicrotasks();
    }
    this.#now = target;
    await drainMicrotasks();
  }

  /**
   * Advances until no timer is pending. Throws a `RangeError` once more than
   * `maxTimers` timers have fired, rather than looping forever on a timer
   * that keeps rescheduling itself.
   */
  async runAll(options: RunAllOptions = {}): Promise<void> {
    const maxTimers = integerAtLeast("maxTimers", options.maxTimers ?? 100_000, 1);
    let fired = 0;
    await drainMicrotasks();
    for (;;) {
      const next = this.#peek();
      if (next === undefined) return;
      if (fired++ >= maxTimers) {
        throw new RangeError(
          `runAll fired ${maxTimers} timers and more are pending: a timer keeps rescheduling itself`,
        );
      }
      this.#fire(next);
      await drainMicrotasks();
    }
  }

  #fire(timer: VirtualTimer): void {
    this.#pop();
    this.#live.delete(timer.id);
    if (timer.at > this.#now) this.#now = timer.at;
    timer.callback();
  }

  /** Earliest live timer, discarding cleared ones from the top of the heap. */
  #peek(): VirtualTimer | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && !this.#live.has(heap[0].id)) this.#pop();
    return heap[0];
  }

  #push(timer: VirtualTimer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let min = i;
      if (l < heap.length && earlier(heap[l], heap[min])) min = l;
      if (r < heap.length && earlier(heap[r], heap[min])) min = r;
      if (min === i) return;
      [heap[i], heap[min]] = [heap[min], heap[i]];
      i = min;
    }
  }
}
