/**
 * A rolling counter over a fixed number of time buckets, shared by the parts
 * that need "how many X in the last `windowMs`" (the failure budget, the
 * retry budget and the circuit breaker's time detector). Internal: not
 * exported from `mod.ts`.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { integerAtLeast, integerBetween, numberAbove } from "./validate.ts";

/**
 * Most buckets a window may have (every part that takes `buckets` checks
 * this bound at construction): more would buy a finer edge at the cost of
 * memory and of time on every roll-over, and a typo such as `1e9` would
 * allocate gigabytes.
 */
export const MAX_BUCKETS = 1_000;

/** Options of {@link RollingWindow}. */
export interface RollingWindowOptions {
  /** Length of the window in milliseconds. A finite number > 0. */
  windowMs: number;
  /** Buckets the window is split into. An integer >= 1. */
  buckets: number;
  /** Counters kept per bucket (e.g. 2 for "samples" and "failures"). An integer >= 1. */
  counters: number;
  /**
   * Where the time comes from when a call passes no `now`. Optional for a
   * window whose every call passes `now` (a call without it then throws).
   */
  clock?: Pick<Clock, "now">;
}

// Neighbouring doubles, to find a bucket's exact first time (below).
const BITS = new Float64Array(1);
const WORD = new BigInt64Array(BITS.buffer);

/** The next double after finite `x` towards +Infinity (or -Infinity with `down`). */
function nextDouble(x: number, down: boolean): number {
  if (x === 0) return down ? -Number.MIN_VALUE : Number.MIN_VALUE;
  BITS[0] = x;
  WORD[0] += (x > 0) !== down ? 1n : -1n;
  return BITS[0];
}

/**
 * The first time of the bucket after `epoch`: the least `t` with
 * `Math.floor(t / widthMs) > epoch`. The product `(epoch + 1) * widthMs` is
 * rounded (with a width of 7/3 ms, 27 widths make 63.00000000000001, yet 63
 * is in bucket 27), so it is moved to where the division puts the boundary:
 * then "before the end of the newest bucket" and "in the newest bucket"
 * agree for every time.
 */
function bucketEnd(epoch: number, widthMs: number): number {
  let t = (epoch + 1) * widthMs;
  if (!Number.isFinite(t)) return t;
  while (Math.floor(t / widthMs) > epoch) t = nextDouble(t, true);
  while (Math.floor(t / widthMs) <= epoch) t = nextDouble(t, false);
  return t;
}

/** The clock of a window built without one: every call must pass `now`. */
const NO_CLOCK: Pick<Clock, "now"> = {
  now(): number {
    throw new TypeError("now must be passed to a RollingWindow built without a clock");
  },
};

/**
 * Counts events in the last `windowMs`, split into `buckets` buckets of
 * `windowMs / buckets` each, aligned to multiples of that width on the
 * clock. Each bucket holds `counters` independent counts.
 *
 * A sum covers the current bucket and the `buckets - 1` before it, so a count
 * added at time `t` is forgotten when the bucket `buckets` widths after its
 * own begins: between `windowMs - windowMs / buckets` (exclusive) and
 * `windowMs` (inclusive) after `t`. Memory is `buckets * counters` numbers,
 * whatever the traffic; expiry is lazy (no timers): a bucket is cleared when
 * the window moves past it, and running totals make every read O(1).
 *
 * If the clock reads earlier than a time already seen, the window stays
 * where it was (counts go into the newest bucket) rather than corrupting it.
 *
 * {@link RollingWindow.sum} moves the window to `now`;
 * {@link RollingWindow.peek} reads the window as it would be at `now`
 * without moving it. {@link RollingWindow.head}, {@link RollingWindow.slots}
 * and {@link RollingWindow.load} save and restore the whole state.
 *
 * @example Two counters, one bucket forgotten after the window
 * ```ts
 * import { RollingWindow } from "./rolling_window.ts";
 * import { VirtualClock } from "../../testing.ts";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const window = new RollingWindow({ windowMs: 1_000, buckets: 10, counters: 2, clock });
 * window.add(0, 3);
 * window.add(1);
 * assert.deepEqual([window.sum(0), window.sum(1)], [3, 1]);
 * await clock.advance(999);
 * assert.equal(window.sum(0), 3);
 * await clock.advance(1);
 * assert.deepEqual([window.sum(0), window.sum(1)], [0, 0]);
 * ```
 */
export class RollingWindow {
  readonly #clock: Pick<Clock, "now">;
  readonly #buckets: number;
  readonly #counters: number;
  readonly #widthMs: number;
  /**
   * `buckets * counters` counts, bucket `b`'s counter `c` at `b * counters +
   * c`, then per counter the total over every bucket (all of them are inside
   * the window) at `#totalsAt + c`. One array: one allocation to touch.
   */
  readonly #counts: number[];
  readonly #totalsAt: number;
  /** Newest bucket number seen, so a clock that steps back cannot reopen old buckets. */
  #head = -Infinity;
  /** The slot of bucket `#head`. */
  #headSlot = 0;
  /** When bucket `#head` ends: any earlier time counts into it. */
  #headEnd = -Infinity;

  /** Creates an empty window. Throws on invalid options. */
  constructor(options: RollingWindowOptions) {
    const windowMs = numberAbove("windowMs", options.windowMs, 0);
    this.#buckets = integerBetween("buckets", options.buckets, 1, MAX_BUCKETS);
    this.#counters = integerAtLeast("counters", options.counters, 1);
    this.#clock = options.clock ?? NO_CLOCK;
    this.#widthMs = windowMs / this.#buckets;
    this.#totalsAt = this.#buckets * this.#counters;
    // A plain array of doubles lives on the JS heap next to this object; a
    // typed array this size would keep its data in a separate allocation.
    this.#counts = Array.from({ length: this.#totalsAt + this.#counters }, () => 0);
  }

  /** Adds `amount` (default 1) to `counter` in the current bucket. */
  add(counter: number, amount = 1, now: number = this.#clock.now()): void {
    const slot = this.#advance(now);
    this.#counts[slot * this.#counters + counter] += amount;
    this.#counts[this.#totalsAt + counter] += amount;
  }

  /**
   * Adds 1 to `counter` and, unless `other` is -1, 1 to `other`, in the
   * bucket of `now`: two counts of one event (a call and its failure, say)
   * for the cost of one {@link RollingWindow.add}.
   */
  addTwo(now: number, counter: number, other: number): void {
    const base = this.#advance(now) * this.#counters;
    const counts = this.#counts;
    const totalsAt = this.#totalsAt;
    counts[base + counter]++;
    counts[totalsAt + counter]++;
    if (other !== -1) {
      counts[base + other]++;
      counts[totalsAt + other]++;
    }
  }

  /** Total of `counter` over the window. */
  sum(counter: number, now: number = this.#clock.now()): number {
    this.#advance(now);
    return this.#counts[this.#totalsAt + counter];
  }

  /**
   * Total of `counter` over the window as last moved (by an add or a sum at
   * some time `now`): that sum, read without moving the window again.
   */
  total(counter: number): number {
    return this.#counts[this.#totalsAt + counter];
  }

  /**
   * Total of `counter` over the window as it would be at `now`, without
   * moving the window: a later count at an earlier time still goes where it
   * would have gone. O(1) while `now` is in the newest bucket.
   */
  peek(counter: number, now: number): number {
    const total = this.#counts[this.#totalsAt + counter];
    if (now < this.#headEnd || total === 0) return total;
    const n = this.#buckets;
    const head = this.#head;
    const epoch = Math.floor(now / this.#widthMs);
    // (A non-finite time, from a broken clock, reads the newest bucket, as in #advance.)
    if (!(epoch > head && epoch < Infinity)) return total;
    if (epoch - head >= n) return 0;
    const k = this.#counters;
    let sum = total;
    for (let e = head + 1; e <= epoch; e++) sum -= this.#counts[(((e % n) + n) % n) * k + counter];
    return sum;
  }

  /** Width of one bucket: `windowMs / buckets`. */
  get widthMs(): number {
    return this.#widthMs;
  }

  /** Number of buckets: always the `buckets` option, whatever the traffic. */
  get bucketCount(): number {
    return this.#buckets;
  }

  /** Number of the newest bucket seen (time / `widthMs`, floored), or null before the first. */
  get head(): number | null {
    return this.#head === -Infinity ? null : this.#head;
  }

  /**
   * The counts of `counter` by slot, as held (not moved to any time):
   * bucket number `b` lives in slot `b mod buckets`.
   */
  slots(counter: number): number[] {
    const k = this.#counters;
    return Array.from({ length: this.#buckets }, (_, slot) => this.#counts[slot * k + counter]);
  }

  /**
   * Replaces the whole state with a saved one: `head` as from
   * {@link RollingWindow.head} (an integer) and, for each counter, its
   * counts by slot as from {@link RollingWindow.slots} (`buckets` finite
   * numbers >= 0). The caller validates them.
   */
  load(head: number, counts: readonly (readonly number[])[]): void {
    this.clear();
    const n = this.#buckets;
    const k = this.#counters;
    for (let c = 0; c < k; c++) {
      for (let slot = 0; slot < n; slot++) {
        const count = counts[c][slot];
        this.#counts[slot * k + c] = count;
        this.#counts[this.#totalsAt + c] += count;
      }
    }
    this.#head = head;
    this.#headSlot = ((head % n) + n) % n;
    this.#headEnd = bucketEnd(head, this.#widthMs);
  }

  /** Forgets every count, and the newest time seen. */
  clear(): void {
    this.#counts.fill(0);
    this.#head = -Infinity;
    this.#headSlot = 0;
    this.#headEnd = -Infinity;
  }

  /**
   * Moves the window to the bucket of `now` (never back), forgetting the
   * buckets that fell out of it, and returns the current bucket's slot. So
   * every count held is inside the window and the totals are their sum: a
   * read costs O(1), and each bucket is cleared at most once per width.
   */
  #advance(now: number): number {
    if (now < this.#headEnd) return this.#headSlot;
    const n = this.#buckets;
    const epoch = Math.floor(now / this.#widthMs);
    // (A non-finite time, from a broken clock, counts into the newest bucket.)
    if (epoch > this.#head && epoch < Infinity) {
      // Slots of the epochs entered, each reused from `n` widths earlier (or older).
      const from = epoch - this.#head >= n ? epoch - n + 1 : this.#head + 1;
      for (let e = from; e <= epoch; e++) this.#clearSlot(((e % n) + n) % n);
      this.#head = epoch;
      this.#headSlot = ((epoch % n) + n) % n;
      this.#headEnd = bucketEnd(epoch, this.#widthMs);
    }
    return this.#headSlot;
  }

  #clearSlot(slot: number): void {
    const k = this.#counters;
    const base = slot * k;
    for (let c = 0; c < k; c++) {
      const count = this.#counts[base + c];
      if (count !== 0) {
        this.#counts[this.#totalsAt + c] -= count;
        this.#counts[base + c] = 0;
      }
    }
  }
}
