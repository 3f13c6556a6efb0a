/**
 * A simulated connection pool in front of a simulated server.
 *
 * @module
 */

import type { Clock, TimerId } from "../core/clock.ts";
import { PoolTimeoutError } from "../core/errors.ts";
import type { RandomSource } from "../core/random.ts";
import {
  functionValue,
  integerAtLeast,
  knownKeys,
  numberAbove,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import { latency, type LatencyDistribution } from "./latency.ts";
import { SimServer } from "./server.ts";

/** Options of a simulated pool ({@link Simulation.pool}). */
export interface PoolOptions {
  /** The server the connections lead to. */
  target: SimServer;
  /** Connections opened before the load starts (warm-up) and kept while idle. Default 0. */
  minConnections?: number;
  /** Most connections open or opening at once. Default 10. */
  maxConnections?: number;
  /** Longest wait for a connection; past it the acquisition fails with `PoolTimeoutError`. Default: no limit. */
  connectionTimeoutMs?: number;
  /** An idle connection above `minConnections` closes after this long. Default: never. */
  idleTimeoutMs?: number;
  /** Time to open a new connection. Default `latency.constant(0)`. */
  connectionLatency?: LatencyDistribution;
  /** Called at each acquisition with the time waited (ms). */
  onAcquire?: (waitedMs: number) => void;
  /** Called at each release. */
  onRelease?: () => void;
}

/** A pool's part of the report. */
export interface PoolReport {
  /** Connections opened (warm-up included). */
  connectionsCreated: number;
  /** Connections closed (idle timeout, or broken by a caller that gave up). */
  connectionsClosed: number;
  /** Connections handed out. */
  acquisitions: number;
  /** Connections given back (equals `acquisitions` once the run drains). */
  releases: number;
  /** Acquisitions that failed after `connectionTimeoutMs`. */
  timeouts: number;
  /** Time callers spent waiting for the connections they got (ms). */
  totalWaitTimeMs: number;
}

const POOL_KEYS = [
  "target",
  "minConnections",
  "maxConnections",
  "connectionTimeoutMs",
  "idleTimeoutMs",
  "connectionLatency",
  "onAcquire",
  "onRelease",
];

/** A connection of a {@link SimPool}. */
export class SimConnection {
  /** Internal: the pending idle-close timer. */
  idleTimer: TimerId | undefined = undefined;
}

class Waiter {
  readonly start: number;
  readonly resolve: (connection: SimConnection) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  timer: TimerId | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  done = false;

  constructor(
    start: number,
    resolve: (connection: SimConnection) => void,
    reject: (error: unknown) => void,
    signal: AbortSignal | undefined,
  ) {
    this.start = start;
    this.resolve = resolve;
    this.reject = reject;
    this.signal = signal;
  }
}

/**
 * A connection pool: idle connections are reused (most recently used
 * first), new ones are opened up to `maxConnections` and pay
 * `connectionLatency`, callers beyond that wait in FIFO order for at most
 * `connectionTimeoutMs`. Build it with {@link Simulation.pool}.
 *
 * @example
 * ```ts
 * import { latency, Simulation } from "@bulwark/bulwark/sim";
 *
 * const sim = new Simulation({ seed: 1 });
 * const db = sim.server("db", { latency: latency.constant(5), concurrency: 8 });
 * sim.pool("db-pool", {
 *   target: db,
 *   minConnections: 2,
 *   maxConnections: 8,
 *   connectionTimeoutMs: 1_000,
 *   connectionLatency: latency.constant(3),
 * });
 * ```
 */
export class SimPool {
  /** The pool's name in the report. */
  readonly name: string;
  /** The server behind the pool. */
  readonly target: SimServer;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #min: number;
  readonly #max: number;
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  readonly #connectLatency: LatencyDistribution;
  readonly #onAcquire: ((waitedMs: number) => void) | undefined;
  readonly #onRelease: (() => void) | undefined;
  /** Idle connections; the last one is the most recently used. */
  readonly #idle: SimConnection[] = [];
  readonly #waiters: (Waiter | undefined)[] = [];
  #head = 0;
  #waiting = 0;
  #open = 0;
  #opening = 0;
  #created = 0;
  #closed = 0;
  #acquisitions = 0;
  #releases = 0;
  #timeouts = 0;
  #waitMs = 0;

  /** Internal: use {@link Simulation.pool}. */
  constructor(name: string, options: PoolOptions, clock: Clock, random: RandomSource) {
    objectValue("options", options);
    knownKeys("", options, POOL_KEYS);
    if (!(options.target instanceof SimServer)) {
      typeError("target", "a server of this simulation", options.target);
    }
    const min = options.minConnections === undefined
      ? 0
      : integerAtLeast("minConnections", options.minConnections, 0);
    const max = options.maxConnections === undefined
      ? 10
      : integerAtLeast("maxConnections", options.maxConnections, 1);
    if (max < min) rangeError("maxConnections", `an integer >= minConnections (${min})`, max);
    const conn = options.connectionLatency ?? latency.constant(0);
    if (typeof conn?.sample !== "function") {
      typeError("connectionLatency", "a latency distribution (see latency.*)", conn);
    }
    this.name = name;
    this.target = options.target;
    this.#clock = clock;
    this.#random = random;
    this.#min = min;
    this.#max = max;
    this.#timeoutMs = options.connectionTimeoutMs === undefined
      ? Infinity
      : numberAbove("connectionTimeoutMs", options.connectionTimeoutMs, 0);
    this.#idleMs = options.idleTimeoutMs === undefined
      ? Infinity
      : numberAbove("idleTimeoutMs", options.idleTimeoutMs, 0);
    this.#connectLatency = conn;
    this.#onAcquire = options.onAcquire === undefined
      ? undefined
      : functionValue("onAcquire", options.onAcquire);
    this.#onRelease = options.onRelease === undefined
      ? undefined
      : functionValue("onRelease", options.onRelease);
  }

  /** Connections open now (idle or in use). */
  get open(): number {
    return this.#open;
  }

  /** Idle connections now. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Internal: opens `minConnections` at once, before any load (warm-up). */
  warmUp(): void {
    for (let i = 0; i < this.#min; i++) {
      this.#open++;
      this.#created++;
      this.#idle.push(new SimConnection());
    }
  }

  /**
   * Internal: a connection, now or after a wait. Rejects with
   * `PoolTimeoutError` after `connectionTimeoutMs`, or with the signal's
   * reason when the caller gives up first.
   */
  acquire(signal: AbortSignal | undefined): Promise<SimConnection> {
    const ready = this.#idle.pop();
    if (ready !== undefined) {
      if (ready.idleTimer !== undefined) {
        this.#clock.clearTimer(ready.idleTimer);
        ready.idleTimer = undefined;
      }
      this.#acquired(0);
      return Promise.resolve(ready);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<SimConnection>((resolve, reject) => {
      const waiter = new Waiter(this.#clock.now(), resolve, reject, signal);
      this.#waiters.push(waiter);
      this.#waiting++;
      if (this.#timeoutMs !== Infinity) {
        waiter.timer = this.#clock.setTimer(() => this.#timeOut(waiter), this.#timeoutMs);
      }
      if (signal !== undefined) {
        waiter.onAbort = () => this.#leave(waiter, signal.reason);
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      if (this.#open + this.#opening < this.#max) this.#connect();
    });
  }

  /**
   * Internal: gives a connection back. `broken`: the caller gave up mid
   * request, so the connection is closed instead of reused.
   */
  release(connection: SimConnection, broken: boolean): void {
    this.#releases++;
    this.#onRelease?.();
    if (broken) {
      this.#open--;
      this.#closed++;
      if (this.#waiting > 0 && this.#open + this.#opening < this.#max) this.#connect();
      return;
    }
    this.#handOver(connection);
  }

  #acquired(waitedMs: number): void {
    this.#acquisitions++;
    this.#waitMs += waitedMs;
    this.#onAcquire?.(waitedMs);
  }

  #connect(): void {
    this.#opening++;
    this.#clock.setTimer(() => {
      this.#opening--;
      this.#open++;
      this.#created++;
      this.#handOver(new SimConnection());
    }, this.#connectLatency.sample(this.#random));
  }

  /** Gives `connection` to the first waiter, or makes it idle. */
  #handOver(connection: SimConnection): void {
    const waiter = this.#nextWaiter();
    if (waiter !== undefined) {
      this.#settle(waiter);
      this.#acquired(this.#clock.now() - waiter.start);
      waiter.resolve(connection);
      return;
    }
    this.#idle.push(connection);
    if (this.#idleMs !== Infinity) {
      connection.idleTimer = this.#clock.setTimer(
        () => this.#idleExpired(connection),
        this.#idleMs,
      );
    }
  }

  #idleExpired(connection: SimConnection): void {
    connection.idleTimer = undefined;
    if (this.#open <= this.#min) return;
    const i = this.#idle.indexOf(connection);
    if (i < 0) return;
    this.#idle.splice(i, 1);
    this.#open--;
    this.#closed++;
  }

  #nextWaiter(): Waiter | undefined {
    while (this.#head < this.#waiters.length) {
      const waiter = this.#waiters[this.#head];
      this.#waiters[this.#head++] = undefined;
      if (waiter !== undefined && !waiter.done) {
        this.#compact();
        return waiter;
      }
    }
    this.#compact();
    return undefined;
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#waiters.length) {
      this.#waiters.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** Marks a waiter served or gone: no timer, no listener. */
  #settle(waiter: Waiter): void {
    waiter.done = true;
    this.#waiting--;
    if (waiter.timer !== undefined) this.#clock.clearTimer(waiter.timer);
    if (waiter.onAbort !== undefined) waiter.signal!.removeEventListener("abort", waiter.onAbort);
  }

  #timeOut(waiter: Waiter): void {
    waiter.timer = undefined;
    this.#timeouts++;
    this.#leave(
      waiter,
      new PoolTimeoutError(
        `pool "${this.name}": no connection within connectionTimeoutMs (${this.#timeoutMs} ms)`,
      ),
    );
  }

  #leave(waiter: Waiter, reason: unknown): void {
    if (waiter.done) return;
    this.#settle(waiter);
    waiter.reject(reason);
  }

  /** A frozen snapshot of the counters now; the report's are the last one. */
  stats(): Readonly<PoolReport> {
    return Object.freeze({
      connectionsCreated: this.#created,
      connectionsClosed: this.#closed,
      acquisitions: this.#acquisitions,
      releases: this.#releases,
      timeouts: this.#timeouts,
      totalWaitTimeMs: this.#waitMs,
    });
  }

  /** Internal: the report. */
  report(): PoolReport {
    return { ...this.stats() };
  }
}
