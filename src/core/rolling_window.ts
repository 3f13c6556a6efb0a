/**
 * A rolling counter over a fixed number of time buckets, shared by the parts
 * that need "how many X in the last `windowMs`" (the failure budget, the
 * retry budget and the circuit breaker's time detector). Internal: not
 * exported from `mod.ts`.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
import { integerBetween, numberAbove } from "./validate.ts";

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
  /** Counters kept per bucket (e.g. 2 for "samples" and "failures"). An integer from 1 to 3. */
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
 * A count goes into fields of the window itself (the newest bucket's
 * counts and the totals), not into its array of buckets, which is written
 * once per bucket width as the window moves: with thousands of windows
 * live, a count touches the window object and nothing else.
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
  // Field order is memory layout: what a count in the newest bucket touches
  // comes first.
  /** When bucket `#head` ends: any earlier time counts into it. */
  #headEnd = -Infinity;
  // The newest bucket's counts not yet in `#counts` (counter 0, 1, 2).
  #new0 = 0;
  #new1 = 0;
  #new2 = 0;
  // Per counter, the total over every bucket (all of them are inside the
  // window), the newest bucket's unwritten counts included.
  #total0 = 0;
  #total1 = 0;
  #total2 = 0;
  /** Newest bucket number seen, so a clock that steps back cannot reopen old buckets. */
  #head = -Infinity;
  /** The slot of bucket `#head`. */
  #headSlot = 0;
  readonly #clock: Pick<Clock, "now">;
  readonly #buckets: number;
  readonly #counters: number;
  readonly #widthMs: number;
  /**
   * `buckets * counters` counts, bucket `b`'s counter `c` at `b * counters +
   * c`, but for the newest bucket's counts still in the `#new` fields.
   */
  readonly #counts: number[];

  /** Creates an empty window. Throws on invalid options. */
  constructor(options: RollingWindowOptions) {
    const windowMs = numberAbove("windowMs", options.windowMs, 0);
    this.#buckets = integerBetween("buckets", options.buckets, 1, MAX_BUCKETS);
    this.#counters = integerBetween("counters", options.counters, 1, 3);
    this.#clock = options.clock ?? NO_CLOCK;
    this.#widthMs = windowMs / this.#buckets;
    this.#counts = Array.from({ length: this.#buckets * this.#counters }, () => 0);
  }

  /** Adds `amount` (default 1) to `counter` in the current bucket. */
  add(counter: number, amount = 1, now: number = this.#clock.now()): void {
    this.#advance(now);
    this.#count(counter, amount);
  }

  /**
   * Adds 1 to `counter` and, unless `other` is -1, 1 to `other`, in the
   * bucket of `now`: two counts of one event (a call and its failure, say)
   * for the cost of one {@link RollingWindow.add}.
   */
  addTwo(now: number, counter: number, other: number): void {
    this.#advance(now);
    this.#count(counter, 1);
    if (other !== -1) this.#count(other, 1);
  }

  /** Total of `counter` over the window. */
  sum(counter: number, now: number = this.#clock.now()): number {
    this.#advance(now);
    return this.total(counter);
  }

  /**
   * Total of `counter` over the window as last moved (by an add or a sum at
   * some time `now`): that sum, read without moving the window again.
   */
  total(counter: number): number {
    return counter === 0 ? this.#total0 : counter === 1 ? this.#total1 : this.#total2;
  }

  /**
   * Total of `counter` over the window as it would be at `now`, without
   * moving it: a later count at an earlier time still goes where it
   * would have gone. O(1) while `now` is in the newest bucket.
   */
  peek(counter: number, now: number): number {
    const total = this.total(counter);
    if (now < this.#headEnd || total === 0) return total;
    const n = this.#buckets;
    const head = this.#head;
    const epoch = Math.floor(now / this.#widthMs);
    // (A non-finite time, from a broken clock, reads the newest bucket, as in #advance.)
    if (!(epoch > head && epoch < Infinity)) return total;
    if (epoch - head >= n) return 0;
    this.#write();
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
    this.#write();
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
      let total = 0;
      for (let slot = 0; slot < n; slot++) {
        const count = counts[c][slot];
        this.#counts[slot * k + c] = count;
        total += count;
      }
      this.#setTotal(c, total);
    }
    this.#head = head;
    this.#headSlot = ((head % n) + n) % n;
    this.#headEnd = bucketEnd(head, this.#widthMs);
  }

  /** Forgets every count, and the newest time seen. */
  clear(): void {
    this.#counts.fill(0);
    this.#new0 = this.#new1 = this.#new2 = 0;
    this.#total0 = this.#total1 = this.#total2 = 0;
    this.#head = -Infinity;
    this.#headSlot = 0;
    this.#headEnd = -Infinity;
  }

  /** Adds `amount` to `counter` in the newest bucket (its unwritten count) and to its total. */
  #count(counter: number, amount: number): void {
    if (counter === 0) {
      this.#new0 += amount;
      this.#total0 += amount;
    } else if (counter === 1) {
      this.#new1 += amount;
      this.#total1 += amount;
    } else {
      this.#new2 += amount;
      this.#total2 += amount;
    }
  }

  #setTotal(counter: number, total: number): void {
    if (counter === 0) this.#total0 = total;
    else if (counter === 1) this.#total1 = total;
    else this.#total2 = total;
  }

  /** Writes the newest bucket's unwritten counts into its slot. */
  #write(): void {
    if (this.#new0 === 0 && this.#new1 === 0 && this.#new2 === 0) return;
    const base = this.#headSlot * this.#counters;
    const counts = this.#counts;
    counts[base] += this.#new0;
    if (this.#counters > 1) counts[base + 1] += this.#new1;
    if (this.#counters > 2) counts[base + 2] += this.#new2;
    this.#new0 = this.#new1 = this.#new2 = 0;
  }

  /**
   * Moves the window to the bucket of `now` (never back), forgetting the
   * buckets that fell out of it. So every count held is inside the window
   * and the totals are their sum: a read costs O(1), and each bucket is
   * cleared at most once per width.
   */
  #advance(now: number): void {
    if (now < this.#headEnd) return;
    const n = this.#buckets;
    const epoch = Math.floor(now / this.#widthMs);
    // (A non-finite time, from a broken clock, counts into the newest bucket.)
    if (epoch > this.#head && epoch < Infinity) {
      this.#write();
      // Slots of the epochs entered, each reused from `n` widths earlier (or older).
      const from = epoch - this.#head >= n ? epoch - n + 1 : this.#head + 1;
      for (let e = from; e <= epoch; e++) this.#clearSlot(((e % n) + n) % n);
      this.#head = epoch;
      this.#headSlot = ((epoch % n) + n) % n;
      this.#headEnd = bucketEnd(epoch, this.#widthMs);
    }
  }

  #clearSlot(slot: number): void {
    const k = this.#counters;
    const base = slot * k;
    for (let c = 0; c < k; c++) {
      const count = this.#counts[base + c];
      if (count !== 0) {
        this.#setTotal(c, this.total(c) - count);
        this.#counts[base + c] = 0;
      }
    }
  }
}
