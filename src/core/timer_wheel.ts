/**
 * A coarse, shared timer for deadlines, attempt timeouts and other
 * watchdog-style timers: one runtime timer serves every pending entry, so
 * arming a deadline costs a bucket insert instead of a `setTimeout`.
 *
 * @module
 */

/** Ticks covered by the ring of slots (a power of two): 20 s at 5 ms ticks. */
const SLOTS = 4096;
const MASK = SLOTS - 1;

/** Slot index of an entry that waits in the far map. */
const FAR = -1;
/** Slot index of an entry whose start the wheel has not stamped yet. */
const FRESH = -2;

/** A scheduled callback. The wheel owns every field but `callback`. */
export interface WheelEntry {
  /** Called once when the entry falls due (as a method: `this` is the entry). */
  callback(): void;
  /** True once the entry fired or was cancelled. */
  done: boolean;
  /** Index of its slot in the ring; -1 in the far map; -2 while unstamped. */
  slot: number;
  /** Its tick (the far map's key). */
  tick: number;
  /** The wheel's generation when scheduled; `stop()` starts a new one. */
  generation: number;
}

/**
 * An entry scheduled with {@link TimerWheel.scheduleFromNow}: due `delayMs`
 * after `start`, a time the wheel fixes lazily. The caller allocates it (it
 * is usually the object that owns the timer), so scheduling allocates nothing.
 */
export interface StampedEntry extends WheelEntry {
  /** The wheel time its delay counts from; NaN until the wheel stamps it. */
  start: number;
  /** Delay from `start` in milliseconds. */
  delayMs: number;
}

/** Options of {@link TimerWheel}. */
export interface TimerWheelOptions {
  /** Bucket width in milliseconds: entries fire at most about one tick late. Default 5. */
  tickMs?: number;
  /**
   * Current time in milliseconds; should be monotonic, or a wall-clock step
   * backwards delays every pending timer. Default `performance.now`.
   */
  now?: () => number;
}

/**
 * A hashed timing wheel (after Varghese and Lauck, "Hashed and Hierarchical
 * Timing Wheels", SOSP 1987), reduced to a map from tick number to entries.
 *
 * - An entry never fires before its delay, and fires at most one tick (plus
 *   the event loop's own latency) after it. This holds for any delay: one
 *   of 2^31 ms or more (which a runtime `setTimeout` fires after about 1 ms)
 *   waits in the far map until its tick comes, since the wheel's own runtime
 *   timer is a short interval.
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
  /** Slots for the next {@link SLOTS} ticks, reused as the wheel turns. */
  readonly #slots: WheelEntry[][] = Array.from({ length: SLOTS }, () => []);
  /** Live (not fired, not cancelled) entries per slot: an emptied slot is truncated at once. */
  readonly #slotLive = new Int32Array(SLOTS);
  /**
   * Entries in use per slot: a slot's entries are the first `#slotLen[i]` of
   * its array. Emptying a slot resets the count (`length = 0` would drop the
   * array's storage and the next insert allocate it again); the references
   * left behind, all to finished entries, go when the slot's tick runs or
   * the wheel stops.
   */
  readonly #slotLen = new Int32Array(SLOTS);
  /** Entries further out than the slots reach, by tick. */
  readonly #far = new Map<number, { entries: WheelEntry[]; live: number }>();
  /**
   * Entries from {@link TimerWheel.scheduleFromNow} not yet given a slot:
   * the first `#freshCount` elements. Truncating is resetting the count (an
   * array's `length = 0` would drop its storage, and the next push allocate
   * it again); the stale references left behind are dropped each tick.
   */
  readonly #fresh: (StampedEntry | undefined)[] = [];
  #freshCount = 0;
  #freshLive = 0;
  /** The wheel's latest reading of its clock (see {@link TimerWheel.coarseNow}). */
  #coarse = 0;
  #live = 0;
  #handle: ReturnType<typeof setInterval> | undefined;
  /** Every tick up to and including this one has been processed. */
  #doneTick = 0;
  readonly #onTick = () => this.runDue();
  #idleCheck = false;
  /** Bumped by stop(): entries of an older generation are gone. */
  #generation = 0;
  readonly #onIdleCheck = () => {
    this.#idleCheck = false;
    if (this.#live === 0) this.stop();
  };
  #armed = 0;

  /** Creates an idle wheel. */
  constructor(options: TimerWheelOptions = {}) {
    this.#tickMs = options.tickMs ?? 5;
    this.#now = options.now ?? (() => performance.now());
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
    return this.scheduleAt(callback, this.#now() + (delayMs > 0 ? delayMs : 0));
  }

  /**
   * Schedules `callback` to run at the wheel's time `at` (or on the next tick
   * if that has passed), without reading the clock unless the wheel is idle.
   */
  scheduleAt(callback: () => void, at: number): WheelEntry {
    if (this.#handle === undefined) this.#arm(this.#now());
    const entry: WheelEntry = { callback, done: false, slot: 0, tick: 0, generation: 0 };
    this.#place(entry, at);
    return entry;
  }

  /**
   * Schedules `entry` to fire `delayMs` after "now" without reading the clock:
   * the wheel stamps its start (`entry.start`) at its next tick, or earlier
   * when {@link TimerWheel.stamp} asks for it. So the entry fires no earlier
   * than `delayMs` after this call, and at most about two ticks (plus the
   * event loop's own latency) after it: one for the stamp, one for the
   * firing. An idle wheel reads the clock to start, and stamps with that.
   *
   * For the hot path: a call that arms its deadline this way and cancels it
   * within the same tick never reads the clock at all.
   */
  scheduleFromNow(entry: StampedEntry, delayMs: number): void {
    entry.start = NaN;
    if (this.#handle === undefined) {
      const now = this.#now();
      this.#arm(now);
      entry.start = now;
    }
    entry.delayMs = delayMs > 0 ? delayMs : 0;
    entry.done = false;
    entry.slot = FRESH;
    entry.generation = this.#generation;
    this.#fresh[this.#freshCount++] = entry;
    this.#freshLive++;
    this.#live++;
  }

  /**
   * The start of an entry from {@link TimerWheel.scheduleFromNow}, stamping
   * it with the current time if the wheel has not yet.
   */
  stamp(entry: StampedEntry): number {
    if (entry.start !== entry.start) entry.start = this.#now();
    return entry.start;
  }

  /**
   * The wheel's latest clock reading, without reading the clock while the
   * wheel runs: then it is at most one tick old while the event loop turns
   * freely (older if something blocks it). An idle wheel reads the clock.
   */
  coarseNow(): number {
    return this.#handle === undefined ? this.#now() : this.#coarse;
  }

  /** Puts an entry into the slot (or far bucket) of the first tick at or after `at`. */
  #place(entry: WheelEntry, at: number): void {
    // The first tick boundary at or after `at`; never one already processed.
    let tick = Math.ceil(at / this.#tickMs);
    if (!(tick > this.#doneTick)) tick = this.#doneTick + 1;
    this.#live++;
    entry.done = false;
    entry.tick = tick;
    entry.generation = this.#generation;
    if (tick - this.#doneTick < SLOTS) {
      const slot = tick & MASK;
      entry.slot = slot;
      this.#slots[slot][this.#slotLen[slot]++] = entry;
      this.#slotLive[slot]++;
      return;
    }
    entry.slot = FAR;
    const bucket = this.#far.get(tick);
    if (bucket === undefined) this.#far.set(tick, { entries: [entry], live: 1 });
    else {
      bucket.entries.push(entry);
      bucket.live++;
    }
  }

  /** Cancels an entry (a no-op once it fired or was cancelled). */
  cancel(entry: WheelEntry): void {
    // An entry from before a stop() was already dropped with its generation.
    if (entry.done || entry.generation !== this.#generation) return;
    entry.done = true;
    // A slot whose entries were all cancelled drops them now, so the common
    // arm-then-cancel of a successful call leaves no garbage behind. (While a
    // slot's tick runs, its count is already 0: a callback cancelling a
    // sibling in the same tick must not drive it below.)
    const slot = entry.slot;
    if (slot >= 0) {
      if (this.#slotLive[slot] > 0 && --this.#slotLive[slot] === 0) this.#slotLen[slot] = 0;
    } else if (slot === FRESH) {
      if (--this.#freshLive === 0) this.#freshCount = 0;
    } else {
      // Far entries (long timeouts) are dropped the same way, bucket by bucket.
      const bucket = this.#far.get(entry.tick);
      if (bucket !== undefined && --bucket.live === 0) this.#far.delete(entry.tick);
    }
    if (--this.#live === 0 && !this.#idleCheck) {
      this.#idleCheck = true;
      setImmediate(this.#onIdleCheck);
    }
  }

  /** Stops the runtime timer now and forgets every entry (they never fire). */
  stop(): void {
    this.#generation++;
    if (this.#handle !== undefined) clearInterval(this.#handle);
    this.#handle = undefined;
    for (const slot of this.#slots) slot.length = 0;
    this.#slotLive.fill(0);
    this.#slotLen.fill(0);
    this.#far.clear();
    this.#fresh.length = 0;
    this.#freshCount = 0;
    this.#freshLive = 0;
    this.#live = 0;
  }

  #arm(now: number): void {
    this.#coarse = now;
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
    const now = this.#now();
    this.#coarse = now;
    this.#stampFresh(now);
    const current = Math.floor(now / this.#tickMs);
    for (let t = this.#doneTick + 1; t <= current && this.#live > 0; t++) {
      this.#doneTick = t;
      const index = t & MASK;
      const slot = this.#slots[index];
      const length = this.#slotLen[index];
      const far = this.#far.size > 0 ? this.#far.get(t) : undefined;
      if (far !== undefined) this.#far.delete(t);
      if (length === 0 && far === undefined) {
        slot.length = 0; // drop finished entries left behind
        continue;
      }
      // Callbacks cannot add to this slot (new entries go to later ticks),
      // so it can be emptied after the loop.
      this.#slotLive[index] = 0;
      for (let i = 0; i < length; i++) this.#fire(slot[i], index, t);
      if (far !== undefined) { for (const entry of far.entries) this.#fire(entry, FAR, t); }
      slot.length = 0;
      this.#slotLen[index] = 0;
    }
    if (this.#live === 0) this.stop();
    else if (this.#doneTick < current) this.#doneTick = current;
  }

  /** Runs a due entry's callback unless it finished already or now waits elsewhere. */
  #fire(entry: WheelEntry, slot: number, tick: number): void {
    // A cancelled entry may still sit here while it was scheduled again
    // elsewhere (its caller owns and reuses it): only its current place counts.
    if (entry.done || entry.slot !== slot || entry.tick !== tick) return;
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

  /** Gives every unstamped entry its start (`now`) and its slot. */
  #stampFresh(now: number): void {
    const fresh = this.#fresh;
    const count = this.#freshCount;
    for (let i = 0; i < count; i++) {
      const entry = fresh[i]!;
      if (entry.done) continue;
      if (entry.start !== entry.start) entry.start = now;
      this.#live--; // #place counts it again
      this.#place(entry, entry.start + entry.delayMs);
    }
    // Let go of every entry, including those left beyond a reset count.
    fresh.length = 0;
    this.#freshCount = 0;
    this.#freshLive = 0;
  }
}
