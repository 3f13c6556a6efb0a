/**
 * The bulkhead: a limit on concurrent calls with a bounded FIFO queue.
 *
 * @module
 */

import { type Clock, clockOption, type TimerId } from "../core/clock.ts";
import { BulkheadRejectedError } from "../core/errors.ts";
import {
  type BulkheadAcquireOptions,
  type BulkheadCallContext,
  type BulkheadExecuteOptions,
  type BulkheadOptions,
  type BulkheadPermit,
  MAX_BULKHEAD_SIZE,
} from "./options.ts";
import { EventSink } from "../core/events.ts";
import { SignalContext } from "../core/signal_context.ts";
import {
  functionValue,
  integerBetween,
  knownKeys,
  nameOption,
  numberAbove,
  objectValue,
  optionalSignal,
  rangeError,
  typeError,
} from "../core/validate.ts";

export type {
  BulkheadAcquireOptions,
  BulkheadCallContext,
  BulkheadExecuteOptions,
  BulkheadOptions,
  BulkheadPermit,
} from "./options.ts";
export { MAX_BULKHEAD_SIZE } from "./options.ts";

interface Waiter {
  resolve(permit: BulkheadPermit): void;
  reject(reason: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
  timer?: TimerId;
}

const KEYS: readonly string[] = [
  "name",
  "maxConcurrent",
  "maxQueue",
  "queueTimeoutMs",
  "onEvent",
  "clock",
];
const ACQUIRE_KEYS: readonly string[] = ["signal", "timeoutMs"];

/**
 * Limits how many calls run at once, so one slow dependency cannot take every
 * connection, worker or socket (the bulkhead pattern). Up to `maxConcurrent`
 * calls hold a permit; up to `maxQueue` more wait for one, first come first
 * served.
 *
 * - A call that finds every permit taken and the queue full is rejected at
 *   once with `BulkheadRejectedError` (event `bulkhead_rejected`, reason
 *   `"full"`).
 * - A queued call that waits longer than `queueTimeoutMs` (or the call's own
 *   `timeoutMs`, whichever is smaller) is rejected the same way (reason
 *   `"queue_timeout"`).
 * - A queued call whose signal aborts leaves the queue at once and rejects
 *   with `signal.reason`; an already aborted signal rejects before queueing.
 * - A released permit goes straight to the first queued call, so a newcomer
 *   can never overtake the queue.
 *
 * A timer is set only for a call that actually queues with a finite timeout,
 * and it is cleared as soon as that call gets a permit or leaves.
 *
 * @example
 * ```ts
 * import { Bulkhead } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 10 });
 * let running = 0;
 * let peak = 0;
 * const task = (i: number) =>
 *   bulkhead.execute(async () => {
 *     peak = Math.max(peak, ++running);
 *     await Promise.resolve();
 *     running--;
 *     return i;
 *   });
 * const results = await Promise.all([1, 2, 3, 4, 5].map(task));
 * assert.deepEqual(results, [1, 2, 3, 4, 5]);
 * assert.equal(peak, 2);
 * ```
 */
export class Bulkhead {
  // Field order is memory layout: a permit taken and given back with nobody
  // waiting reads only these two counters (and `maxConcurrent`).
  #inFlight = 0;
  /** `#waiters.size`, kept here so that giving a permit back need not touch the set. */
  #waiting = 0;
  /** Name used in events and errors. */
  readonly name: string;
  /** Most calls running at once. */
  readonly maxConcurrent: number;
  /** Most calls waiting for a permit. */
  readonly maxQueue: number;
  /** Receives this bulkhead's events; `onEvent` is its first listener. */
  readonly events: EventSink;
  readonly #queueTimeoutMs: number;
  readonly #clock: Clock;
  /** Queued callers in arrival order (a `Set` keeps insertion order and deletes in O(1)). */
  readonly #waiters = new Set<Waiter>();

  /** Creates a bulkhead. Throws a `TypeError` or `RangeError` on invalid options. */
  constructor(options: BulkheadOptions) {
    objectValue("options", options);
    knownKeys("", options, KEYS);
    this.name = nameOption("name", options.name, "bulkhead");
    this.maxConcurrent = integerBetween(
      "maxConcurrent",
      options.maxConcurrent,
      1,
      MAX_BULKHEAD_SIZE,
    );
    this.maxQueue = integerBetween("maxQueue", options.maxQueue ?? 0, 0, MAX_BULKHEAD_SIZE);
    this.#queueTimeoutMs = options.queueTimeoutMs === undefined
      ? Infinity
      : numberAbove("queueTimeoutMs", options.queueTimeoutMs, 0);
    this.#clock = clockOption(options.clock ?? undefined, ["now", "setTimer", "clearTimer"]);
    this.events = new EventSink();
    if (options.onEvent !== undefined) this.events.add(functionValue("onEvent", options.onEvent));
  }

  /** Calls holding a permit now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Calls waiting for a permit now. */
  get queued(): number {
    return this.#waiters.size;
  }

  /**
   * Takes a permit at once if one is free, without queueing or awaiting;
   * returns `undefined` when the bulkhead is full (no event: the caller
   * decides whether to queue with {@link Bulkhead.acquire}).
   *
   * @example
   * ```ts
   * import { Bulkhead } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const bulkhead = new Bulkhead({ maxConcurrent: 1 });
   * const permit = bulkhead.tryAcquire();
   * assert.ok(permit !== undefined);
   * assert.equal(bulkhead.tryAcquire(), undefined);
   * permit.release();
   * ```
   */
  tryAcquire(): BulkheadPermit | undefined {
    return this.tryEnter() ? this.#permit() : undefined;
  }

  /**
   * The low-level form of {@link Bulkhead.tryAcquire} for wrappers that track
   * the permit themselves (a policy does): takes a permit at once if one is
   * free and returns whether it did, allocating nothing. Each `true` must be
   * paired with exactly one {@link Bulkhead.exit}.
   *
   * @example
   * ```ts
   * import { Bulkhead } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const bulkhead = new Bulkhead({ maxConcurrent: 1 });
   * assert.equal(bulkhead.tryEnter(), true);
   * assert.equal(bulkhead.tryEnter(), false);
   * bulkhead.exit();
   * assert.equal(bulkhead.inFlight, 0);
   * ```
   */
  tryEnter(): boolean {
    // A free permit means an empty queue (releases hand permits to waiters).
    if (this.#inFlight >= this.maxConcurrent) return false;
    this.#inFlight++;
    return true;
  }

  /**
   * Gives back a permit taken with {@link Bulkhead.tryEnter}: the first
   * waiter gets it, or it returns to the pool. Throws a `RangeError` when no
   * permit is in flight (an unpaired call). It cannot tell whose permit it
   * gives back: calling it for a permit object from `tryAcquire()` or
   * `acquire()` (release those with `release()`) corrupts the count.
   *
   * @example
   * ```ts
   * import { Bulkhead } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1 });
   * assert.equal(bulkhead.tryEnter(), true);
   * const queued = bulkhead.acquire();
   * bulkhead.exit(); // hands the permit to the waiter
   * const permit = await queued;
   * assert.equal(bulkhead.inFlight, 1);
   * permit.release();
   * ```
   */
  exit(): void {
    if (this.#inFlight === 0) {
      throw new RangeError(`bulkhead "${this.name}": exit() without a permit in flight`);
    }
    this.#handOver();
  }

  /**
   * Waits for a permit (see the class description for when it rejects). The
   * caller must release it: call `release()` in a `finally`, or hold it with
   * `using`.
   *
   * @example Holding a permit with `using`
   * ```ts
   * import { Bulkhead, BulkheadRejectedError } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const bulkhead = new Bulkhead({ maxConcurrent: 1 });
   * {
   *   using _permit = await bulkhead.acquire();
   *   assert.equal(bulkhead.inFlight, 1);
   *   await assert.rejects(bulkhead.acquire(), BulkheadRejectedError);
   * }
   * assert.equal(bulkhead.inFlight, 0);
   * ```
   */
  acquire(options: BulkheadAcquireOptions = {}): Promise<BulkheadPermit> {
    let signal: AbortSignal | undefined;
    let timeoutMs: number;
    try {
      objectValue("options", options);
      knownKeys("", options, ACQUIRE_KEYS);
      signal = optionalSignal("signal", options.signal);
      timeoutMs = waitLimit(options.timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    // While anyone is queued every permit is taken (releases hand permits
    // straight to the queue), so a free permit means an empty queue.
    if (this.#inFlight < this.maxConcurrent) {
      this.#inFlight++;
      return Promise.resolve(this.#permit());
    }
    if (this.#waiters.size >= this.maxQueue) {
      return Promise.reject(
        this.#reject(
          "full",
          `bulkhead "${this.name}" is full (${this.#inFlight} of ${this.maxConcurrent} running, ${this.#waiters.size} of ${this.maxQueue} queued)`,
        ),
      );
    }
    const waitMs = Math.min(this.#queueTimeoutMs, timeoutMs);
    if (waitMs <= 0) return Promise.reject(this.#timedOut(0));
    return new Promise<BulkheadPermit>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, signal };
      this.#waiters.add(waiter);
      this.#waiting++;
      if (waitMs !== Infinity) {
        waiter.timer = this.#clock.setTimer(() => {
          waiter.timer = undefined;
          this.#leave(waiter);
          reject(this.#timedOut(waitMs));
        }, waitMs);
      }
      if (signal !== undefined) {
        waiter.onAbort = () => {
          waiter.onAbort = undefined;
          this.#leave(waiter);
          reject(signal.reason);
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
    });
  }

  /**
   * Runs `fn` under a permit and releases it when `fn` settles, whatever the
   * outcome. `fn` receives a {@link BulkheadCallContext} whose `signal` is
   * `options.signal` (or, without one, a signal that never aborts). Rejects
   * like {@link Bulkhead.acquire} without calling `fn`; a signal that aborts
   * between getting the permit and starting `fn` also stops it.
   *
   * @example
   * ```ts
   * import { Bulkhead } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * const bulkhead = new Bulkhead({ name: "db", maxConcurrent: 4 });
   * const rows = await bulkhead.execute(({ signal }) => (signal.aborted ? [] : ["a", "b"]));
   * assert.deepEqual(rows, ["a", "b"]);
   * assert.equal(bulkhead.inFlight, 0);
   * ```
   */
  async execute<T>(
    fn: (context: BulkheadCallContext) => T | Promise<T>,
    options: BulkheadExecuteOptions = {},
  ): Promise<T> {
    functionValue("fn", fn);
    const permit = await this.acquire(options);
    try {
      const signal = options.signal;
      if (signal?.aborted) throw signal.reason;
      return await fn(new SignalContext(signal));
    } finally {
      permit.release();
    }
  }

  #permit(): BulkheadPermit {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#handOver();
    };
    return { release, [Symbol.dispose]: release };
  }

  /** Passes a freed permit to the first waiter, or returns it to the pool. */
  #handOver(): void {
    if (this.#waiting === 0) {
      this.#inFlight--;
      return;
    }
    const next: Waiter = this.#waiters.values().next().value!;
    this.#leave(next);
    next.resolve(this.#permit());
  }

  /** Removes a waiter from the queue and detaches its timer and abort listener. */
  #leave(waiter: Waiter): void {
    if (this.#waiters.delete(waiter)) this.#waiting--;
    if (waiter.timer !== undefined) {
      this.#clock.clearTimer(waiter.timer);
      waiter.timer = undefined;
    }
    if (waiter.onAbort !== undefined) {
      waiter.signal!.removeEventListener("abort", waiter.onAbort);
      waiter.onAbort = undefined;
    }
  }

  #timedOut(waitMs: number): BulkheadRejectedError {
    return this.#reject(
      "queue_timeout",
      `bulkhead "${this.name}" had no free permit within ${waitMs} ms (${this.#inFlight} of ${this.maxConcurrent} running, ${this.#waiters.size} of ${this.maxQueue} queued)`,
    );
  }

  /** Emits `bulkhead_rejected` and builds the error. */
  #reject(reason: "full" | "queue_timeout", message: string): BulkheadRejectedError {
    if (this.events.active) {
      this.events.emit({
        type: "bulkhead_rejected",
        policy: this.name,
        timestamp: this.#clock.now(),
        inFlight: this.#inFlight,
        queued: this.#waiters.size,
        reason,
      });
    }
    return new BulkheadRejectedError(message, { policy: this.name });
  }
}

/** Validates a per-call `timeoutMs`: a number >= 0, `Infinity` included. */
function waitLimit(value: unknown): number {
  if (value === undefined) return Infinity;
  if (typeof value !== "number") typeError("timeoutMs", "a number >= 0", value);
  if (!(value >= 0)) rangeError("timeoutMs", "a number >= 0", value);
  return value;
}
