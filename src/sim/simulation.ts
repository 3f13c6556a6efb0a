/**
 * `Simulation`: the event queue in virtual time that ties servers, pools,
 * clients and loads together and runs them.
 *
 * @module
 */

import { seededRandom } from "../core/random.ts";
import type { RandomSource } from "../core/random.ts";
import {
  functionValue,
  integerBetween,
  knownKeys,
  nameOption,
  numberBetween,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import { VirtualClock } from "../core/virtual_clock.ts";
import { type ClientOptions, type ClientReport, SimClient } from "./client.ts";
import { armLoad, LIMITS, type LoadOptions, validateLoad } from "./load.ts";
import { type PoolOptions, type PoolReport, SimPool } from "./pool.ts";
import { type ServerOptions, type ServerReport, SimServer } from "./server.ts";

/** Options of {@link Simulation}. */
export interface SimulationOptions {
  /** Seed of every random draw (latencies, errors, arrivals, jitter): an integer 0..2^32-1. Default 1. */
  seed?: number;
}

/** Progress of a run, reported once per simulated second. */
export interface SimulationProgress {
  /** Virtual time reached (ms). */
  nowMs: number;
  /** The run's `durationMs`. */
  durationMs: number;
}

/** Options of {@link Simulation.run}. */
export interface RunOptions {
  /** Loads stop starting calls at this time (ms; > 0, at most 86,400,000: 1 day). */
  durationMs: number;
  /**
   * After `durationMs`, how long calls in flight may take to finish (ms)
   * before the run stops anyway (`drained: false`). Default 600,000; at most
   * 86,400,000 (1 day).
   */
  drainMs?: number;
  /** Called after every simulated second. */
  onProgress?: (progress: SimulationProgress) => void;
}

/** What {@link Simulation.run} returns; `JSON.stringify` of it is the same for the same seed and scenario. */
export interface SimulationReport {
  /** The seed. */
  seed: number;
  /** The run's `durationMs`. */
  durationMs: number;
  /** Virtual time when the run stopped (ms). */
  endMs: number;
  /**
   * Whether every call and every server request finished before the run
   * stopped. (Timers of their own, such as idle connections closing or
   * changes scheduled after the end, do not keep a run going.)
   */
  drained: boolean;
  /** Per client, by name. */
  clients: Record<string, ClientReport>;
  /** Per server, by name. */
  servers: Record<string, ServerReport>;
  /** Per pool, by name. */
  pools: Record<string, PoolReport>;
}

/**
 * A deterministic seed for the random stream of one part (`key`: its kind and
 * name, e.g. "server:db", or "load:3" by index): it depends on the seed and
 * the part alone, so reordering a scenario's keys or adding a part leaves
 * every other part's draws as they were. FNV-1a over the key, then
 * MurmurHash3's 32-bit finalizer (public-domain constants).
 */
function streamSeed(seed: number, key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  let x = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ h;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) | 0;
}

/**
 * A discrete-event simulation in virtual time that runs the real engine:
 * each simulated client calls through a real `policy()` on the
 * simulation's {@link VirtualClock} and seeded random source, so every
 * retry, breaker and budget decision is the one production would make.
 * Events at the same instant run in the order they were scheduled, and
 * promise callbacks run between events, so one seed gives one report.
 *
 * @example A retry storm in miniature
 * ```ts
 * import { latency, Simulation } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const sim = new Simulation({ seed: 42 });
 * const db = sim.server("db", { latency: latency.exponential(10), concurrency: 2, queue: 20 });
 * db.at(2_000, { errorRate: 1 }).at(3_000, { errorRate: 0 });
 * const web = sim.client("web", {
 *   target: db,
 *   timeoutMs: 500,
 *   policy: { retry: { maxAttempts: 3, backoff: { type: "exponential", baseMs: 10 } } },
 * });
 * sim.load(web, { kind: "poisson", ratePerSecond: 50, fromMs: 0, toMs: 5_000 });
 * const report = await sim.run({ durationMs: 5_000 });
 * const stats = report.clients.web.stats;
 * assert.equal(stats.requests, stats.succeeded + stats.failed);
 * assert.ok(report.clients.web.amplification > 1);
 * ```
 */
export class Simulation {
  /** The simulation's clock; every event is a timer on it. */
  readonly clock: VirtualClock = new VirtualClock(0);
  /** The seed. */
  readonly seed: number;
  readonly #servers = new Map<string, SimServer>();
  readonly #pools = new Map<string, SimPool>();
  readonly #clients = new Map<string, SimClient>();
  readonly #loads: { client: SimClient; load: LoadOptions; random: RandomSource }[] = [];
  #ran = false;

  /** Creates an empty simulation. */
  constructor(options: SimulationOptions = {}) {
    objectValue("options", options);
    knownKeys("", options, ["seed"]);
    this.seed = options.seed === undefined
      ? 1
      : integerBetween("seed", options.seed, 0, 2 ** 32 - 1);
  }

  /** The random stream of the part `key` (kind and name). */
  #random(key: string): RandomSource {
    return seededRandom(streamSeed(this.seed, key));
  }

  #name<T>(kind: string, name: string, map: Map<string, T>): string {
    nameOption("name", name);
    if (map.has(name)) typeError("name", `a name no other ${kind} of this simulation has`, name);
    return name;
  }

  /** Throws when `part` is a server, pool or client of another simulation. */
  #own(option: string, rule: string, part: unknown): void {
    const [kind, map] = part instanceof SimServer
      ? ["server", this.#servers]
      : part instanceof SimPool
      ? ["pool", this.#pools]
      : part instanceof SimClient
      ? ["client", this.#clients]
      : [undefined, undefined];
    if (kind === undefined) return;
    const name = (part as { name: string }).name;
    if ((map as Map<string, unknown>).get(name) === part) return;
    throw new TypeError(
      `${option} must be ${rule}: received ${kind} "${name}" of another Simulation`,
    );
  }

  /** Adds a server. */
  server(name: string, options: ServerOptions): SimServer {
    const s = new SimServer(
      this.#name("server", name, this.#servers),
      options,
      this.clock,
      this.#random(`server:${name}`),
    );
    this.#servers.set(name, s);
    return s;
  }

  /** Adds a connection pool in front of a server. */
  pool(name: string, options: PoolOptions): SimPool {
    this.#own("target", "a server of this simulation", options?.target);
    const p = new SimPool(
      this.#name("pool", name, this.#pools),
      options,
      this.clock,
      this.#random(`pool:${name}`),
    );
    this.#pools.set(name, p);
    return p;
  }

  /** Adds a client calling a server or a pool through a real policy. */
  client(name: string, options: ClientOptions): SimClient {
    this.#own("target", "a server or pool of this simulation", options?.target);
    const c = new SimClient(
      this.#name("client", name, this.#clients),
      options,
      this.clock,
      this.#random(`client:${name}`),
    );
    this.#clients.set(name, c);
    return c;
  }

  /** Adds a load: when `client` starts calls. */
  load(client: SimClient, load: LoadOptions): this {
    if (!(client instanceof SimClient)) typeError("client", "a client of this simulation", client);
    this.#own("client", "a client of this simulation", client);
    validateLoad(load);
    this.#loads.push({
      client,
      load: { ...load },
      random: this.#random(`load:${this.#loads.length}`),
    });
    return this;
  }

  /** True when no call is in flight and no server holds a request. */
  #settled(): boolean {
    for (const c of this.#clients.values()) if (c.inFlight > 0) return false;
    for (const s of this.#servers.values()) if (s.busy + s.queued + s.inTransit > 0) return false;
    return true;
  }

  /**
   * Runs the simulation once: warms the pools up, starts the loads, advances
   * virtual time second by second to `durationMs`, then lets calls in flight
   * finish (at most `drainMs` more), and returns the report.
   */
  async run(options: RunOptions): Promise<SimulationReport> {
    objectValue("options", options);
    knownKeys("", options, ["durationMs", "drainMs", "onProgress"]);
    const durationRule = `a number > 0 and <= ${LIMITS.durationMs}`;
    const durationMs = options.durationMs;
    if (typeof durationMs !== "number") typeError("durationMs", durationRule, durationMs);
    if (!(durationMs > 0 && durationMs <= LIMITS.durationMs)) {
      rangeError("durationMs", durationRule, durationMs);
    }
    const drainMs = options.drainMs === undefined
      ? 600_000
      : numberBetween("drainMs", options.drainMs, 0, LIMITS.drainMs);
    const onProgress = options.onProgress === undefined
      ? undefined
      : functionValue("onProgress", options.onProgress);
    if (this.#ran) throw new TypeError("a Simulation runs once: create a new one");
    this.#ran = true;

    const clock = this.clock;
    for (const pool of this.#pools.values()) pool.warmUp();
    for (const { client, load, random } of this.#loads) {
      armLoad(load, clock, random, durationMs, () => client.call());
    }
    const limit = durationMs + drainMs;
    let second = 0;
    for (;;) {
      const end = (second + 1) * 1000;
      const inRun = clock.now() < durationMs;
      if (!inRun && (this.#settled() || clock.now() >= limit)) break;
      await clock.advance(Math.min(end, inRun ? durationMs : limit) - clock.now());
      for (const server of this.#servers.values()) server.sample(second);
      for (const client of this.#clients.values()) client.sample(second);
      onProgress?.({ nowMs: clock.now(), durationMs });
      if (clock.now() >= end) second++;
    }
    const endMs = clock.now();
    // Row i covers [i, i + 1) s, so an event at endMs itself (a whole second
    // included) lands in row floor(endMs / 1000): every column sums to its total.
    const seconds = Math.floor(endMs / 1000) + 1;
    const report: SimulationReport = {
      seed: this.seed,
      durationMs,
      endMs,
      drained: this.#settled(),
      clients: {},
      servers: {},
      pools: {},
    };
    for (const [name, c] of this.#clients) report.clients[name] = c.report(seconds);
    for (const [name, s] of this.#servers) report.servers[name] = s.report(seconds);
    for (const [name, p] of this.#pools) report.pools[name] = p.report();
    return report;
  }
}
