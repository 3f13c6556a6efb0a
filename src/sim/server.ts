/**
 * A simulated server: a latency distribution, `concurrency` workers, a FIFO
 * queue, injected errors, optional write conflicts and scheduled changes.
 *
 * @module
 */

import type { Clock, TimerId } from "../core/clock.ts";
import type { RandomSource } from "../core/random.ts";
import {
  integerAtLeast,
  integerBetween,
  knownKeys,
  numberAbove,
  numberAtLeast,
  numberBetween,
  objectValue,
  typeError,
} from "../core/validate.ts";
import type { LatencyDistribution } from "./latency.ts";
import { Timeline } from "./timeline.ts";

/** Options of a simulated server ({@link Simulation.server}). */
export interface ServerOptions {
  /** Service time of one request. */
  latency: LatencyDistribution;
  /** Requests served at once (workers). Default 1. */
  concurrency?: number;
  /** Requests waiting (FIFO) when every worker is busy. Default: unbounded. */
  queue?: number;
  /** Status of a request turned away because the queue is full. Default 503. */
  rejectStatus?: number;
  /** Share of served requests that fail (0..1), answered after the sampled latency. Default 0. */
  errorRate?: number;
  /** Status of an injected error. Default 503. */
  errorStatus?: number;
  /**
   * `true`: a request whose caller gave up (attempt timeout, deadline) is
   * dropped, queued or in service, as with deadline propagation. Default
   * `false`: the server serves it anyway and the answer goes nowhere.
   */
  cancelOnClientTimeout?: boolean;
  /**
   * `"occ"`: every request reads one shared record's version when its service
   * starts and writes it when its service ends; the write succeeds only if no
   * other write succeeded in between, else the request is answered with
   * `conflictStatus` (so requests whose service overlaps a successful one
   * fail). This is the model of the AWS Architecture Blog's "Exponential
   * Backoff And Jitter" (Marc Brooker, 2015; simulator
   * github.com/aws-samples/aws-arch-backoff-simulator, `OccServer`: a write
   * carrying the version of its read succeeds and bumps the version, any
   * other fails). Give it enough `concurrency` for the requests to overlap.
   * Default `"none"`: requests do not interact.
   */
  contention?: "none" | "occ";
  /** Status of a request that lost a write conflict (`contention: "occ"`). Default 409. */
  conflictStatus?: number;
  /**
   * One-way network delay, sampled for each request on its way to the server
   * and for each answer on its way back (a dropped request's answer is not
   * sent). Default: none, requests arrive and answers return at once.
   */
  networkLatency?: LatencyDistribution;
}

/** A change applied at a point in virtual time ({@link SimServer.at}). */
export interface ServerChange {
  /** New error rate (0..1). */
  errorRate?: number;
  /** Multiplier of every sampled latency from now on (> 0; 1 = as configured). */
  latencyFactor?: number;
  /** New number of workers (>= 1); fewer lets the busy ones finish. */
  concurrency?: number;
}

/** One row of a server's timeline. */
export interface ServerTimelineRow {
  /** Second (row `t` covers [t, t+1) s). */
  t: number;
  /** Requests that finished service in this second (errors included). */
  served: number;
  /** Requests waiting at the end of the second. */
  queued: number;
  /** Busy workers at the end of the second. */
  busy: number;
}

/** A server's part of the report. */
export interface ServerReport {
  /** Requests that arrived. */
  received: number;
  /** Requests that finished service, injected errors included. */
  served: number;
  /** Served requests answered with an injected error. */
  errors: number;
  /** Served requests that lost a write conflict (`contention: "occ"`). */
  conflicts: number;
  /** Requests turned away because the queue was full. */
  rejected: number;
  /** Requests dropped because their caller gave up (`cancelOnClientTimeout`). */
  dropped: number;
  /** Most requests waiting at once. */
  maxQueued: number;
  /** One row per second. */
  timeline: ServerTimelineRow[];
}

const SERVER_KEYS = [
  "latency",
  "concurrency",
  "queue",
  "rejectStatus",
  "errorRate",
  "errorStatus",
  "cancelOnClientTimeout",
  "contention",
  "conflictStatus",
  "networkLatency",
];
const CONTENTIONS: readonly unknown[] = ["none", "occ"];
const CHANGE_KEYS = ["errorRate", "latencyFactor", "concurrency"];

/** Checks server options, naming the option and the value. */
export function validateServerOptions(options: ServerOptions): void {
  objectValue("options", options);
  knownKeys("", options, SERVER_KEYS);
  if (typeof options.latency?.sample !== "function") {
    typeError("latency", "a latency distribution (see latency.*)", options.latency);
  }
  if (options.concurrency !== undefined) integerAtLeast("concurrency", options.concurrency, 1);
  if (options.queue !== undefined) integerAtLeast("queue", options.queue, 0);
  if (options.rejectStatus !== undefined) {
    integerBetween("rejectStatus", options.rejectStatus, 100, 599);
  }
  if (options.errorRate !== undefined) numberBetween("errorRate", options.errorRate, 0, 1);
  if (options.errorStatus !== undefined) {
    integerBetween("errorStatus", options.errorStatus, 100, 599);
  }
  if (
    options.cancelOnClientTimeout !== undefined &&
    typeof options.cancelOnClientTimeout !== "boolean"
  ) {
    typeError("cancelOnClientTimeout", "a boolean", options.cancelOnClientTimeout);
  }
  if (options.contention !== undefined && !CONTENTIONS.includes(options.contention)) {
    typeError("contention", '"none" or "occ"', options.contention);
  }
  if (options.conflictStatus !== undefined) {
    integerBetween("conflictStatus", options.conflictStatus, 100, 599);
  }
  if (
    options.networkLatency !== undefined && typeof options.networkLatency?.sample !== "function"
  ) {
    typeError("networkLatency", "a latency distribution (see latency.*)", options.networkLatency);
  }
}

/** Checks a scheduled change. */
export function validateServerChange(change: ServerChange): void {
  objectValue("change", change);
  knownKeys("", change, CHANGE_KEYS);
  if (change.errorRate !== undefined) numberBetween("errorRate", change.errorRate, 0, 1);
  if (change.latencyFactor !== undefined) numberAbove("latencyFactor", change.latencyFactor, 0);
  if (change.concurrency !== undefined) integerAtLeast("concurrency", change.concurrency, 1);
}

/**
 * Called once with the answer's status; with 0 when the request is dropped
 * because its caller gave up (nobody reads that answer).
 */
export type Respond = (status: number) => void;

/** A request inside the server. */
class Job {
  respond: Respond;
  signal: AbortSignal | undefined;
  /** Set while in service. */
  timer: TimerId | undefined = undefined;
  /** {@link QUEUED}, {@link SERVING} or {@link DONE}. */
  state = 0;
  onAbort: (() => void) | undefined = undefined;
  /** The record's version when service started (`contention: "occ"`). */
  version = 0;

  constructor(respond: Respond, signal: AbortSignal | undefined) {
    this.respond = respond;
    this.signal = signal;
  }
}

const QUEUED = 0;
const SERVING = 1;
const DONE = 2;

/**
 * A simulated server. Build it with {@link Simulation.server}; it answers
 * requests from clients and pools of the same simulation.
 *
 * @example An outage from 10 s to 15 s
 * ```ts
 * import { latency, Simulation } from "@bulwark/bulwark/sim";
 *
 * const sim = new Simulation({ seed: 1 });
 * const db = sim.server("db", { latency: latency.constant(5), concurrency: 4 });
 * db.at(10_000, { errorRate: 1 });
 * db.at(15_000, { errorRate: 0 });
 * ```
 */
export class SimServer {
  /** The server's name in the report. */
  readonly name: string;
  readonly #clock: Clock;
  readonly #random: RandomSource;
  readonly #latency: LatencyDistribution;
  readonly #queueLimit: number;
  readonly #rejectStatus: number;
  readonly #errorStatus: number;
  readonly #cancel: boolean;
  readonly #occ: boolean;
  readonly #conflictStatus: number;
  readonly #network: LatencyDistribution | undefined;
  /** Requests and answers on the network now. */
  #transit = 0;
  /** Successful writes so far (`contention: "occ"`). */
  #version = 0;
  #concurrency: number;
  #errorRate: number;
  #factor = 1;
  #busy = 0;
  readonly #queue: (Job | undefined)[] = [];
  #head = 0;
  #queued = 0;
  #received = 0;
  #served = 0;
  #errors = 0;
  #conflicts = 0;
  #rejected = 0;
  #dropped = 0;
  #maxQueued = 0;
  readonly #timeline = new Timeline(["served", "queued", "busy"] as const);

  /** Internal: use {@link Simulation.server}. */
  constructor(name: string, options: ServerOptions, clock: Clock, random: RandomSource) {
    validateServerOptions(options);
    this.name = name;
    this.#clock = clock;
    this.#random = random;
    this.#latency = options.latency;
    this.#concurrency = options.concurrency ?? 1;
    this.#queueLimit = options.queue ?? Infinity;
    this.#rejectStatus = options.rejectStatus ?? 503;
    this.#errorRate = options.errorRate ?? 0;
    this.#errorStatus = options.errorStatus ?? 503;
    this.#cancel = options.cancelOnClientTimeout ?? false;
    this.#occ = options.contention === "occ";
    this.#conflictStatus = options.conflictStatus ?? 409;
    this.#network = options.networkLatency;
  }

  /** Requests in service now. */
  get busy(): number {
    return this.#busy;
  }

  /** Requests waiting now. */
  get queued(): number {
    return this.#queued;
  }

  /** Requests and answers on the network now (`networkLatency`). */
  get inTransit(): number {
    return this.#transit;
  }

  /** Schedules a change at virtual time `atMs` (applied before other events of that instant set later). */
  at(atMs: number, change: ServerChange): this {
    numberAtLeast("atMs", atMs, 0);
    validateServerChange(change);
    const apply = { ...change };
    this.#clock.setTimer(() => this.#apply(apply), atMs - this.#clock.now());
    return this;
  }

  /**
   * Internal: receives a request. `respond` is called once with the status
   * (200, an injected error, or the reject status), or 0 when it is dropped.
   */
  receive(respond: Respond, signal: AbortSignal | undefined): void {
    const network = this.#network;
    if (network === undefined) return this.#arrive(respond, signal);
    const back: Respond = (status) => {
      if (status === 0) return respond(0);
      this.#transit++;
      this.#clock.setTimer(() => {
        this.#transit--;
        respond(status);
      }, network.sample(this.#random));
    };
    this.#transit++;
    this.#clock.setTimer(() => {
      this.#transit--;
      this.#arrive(back, signal);
    }, network.sample(this.#random));
  }

  #arrive(respond: Respond, signal: AbortSignal | undefined): void {
    this.#received++;
    const job = new Job(respond, signal);
    if (this.#busy < this.#concurrency) {
      this.#start(job);
    } else if (this.#queued < this.#queueLimit) {
      this.#queue.push(job);
      if (++this.#queued > this.#maxQueued) this.#maxQueued = this.#queued;
    } else {
      this.#rejected++;
      job.state = DONE;
      respond(this.#rejectStatus);
      return;
    }
    if (this.#cancel && signal !== undefined) {
      if (signal.aborted) return this.#drop(job);
      job.onAbort = () => this.#drop(job);
      signal.addEventListener("abort", job.onAbort, { once: true });
    }
  }

  #start(job: Job): void {
    this.#busy++;
    job.state = SERVING;
    job.version = this.#version;
    const ms = this.#latency.sample(this.#random) * this.#factor;
    job.timer = this.#clock.setTimer(() => this.#finish(job), ms);
  }

  #finish(job: Job): void {
    job.state = DONE;
    this.#busy--;
    this.#served++;
    this.#timeline.add("served", this.#clock.now());
    if (job.onAbort !== undefined) job.signal!.removeEventListener("abort", job.onAbort);
    let status = 200;
    if (this.#errorRate > 0 && this.#random() < this.#errorRate) {
      this.#errors++;
      status = this.#errorStatus;
    } else if (this.#occ) {
      // The write succeeds only if nobody wrote since this request's read.
      if (job.version === this.#version) {
        this.#version++;
      } else {
        this.#conflicts++;
        status = this.#conflictStatus;
      }
    }
    job.respond(status);
    this.#next();
  }

  /** Starts queued requests while workers are free. */
  #next(): void {
    while (this.#busy < this.#concurrency && this.#queued > 0) {
      const job = this.#queue[this.#head];
      this.#queue[this.#head++] = undefined;
      if (job === undefined || job.state !== QUEUED) continue;
      this.#queued--;
      this.#start(job);
    }
    // Drop the consumed prefix now and then, so the array does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }

  #drop(job: Job): void {
    if (job.state === DONE) return;
    this.#dropped++;
    if (job.state === SERVING) {
      this.#clock.clearTimer(job.timer!);
      this.#busy--;
      job.state = DONE;
      this.#next();
    } else {
      // Left in the array as a hole; #next skips it.
      job.state = DONE;
      this.#queued--;
    }
    job.respond(0);
  }

  #apply(change: ServerChange): void {
    if (change.errorRate !== undefined) this.#errorRate = change.errorRate;
    if (change.latencyFactor !== undefined) this.#factor = change.latencyFactor;
    if (change.concurrency !== undefined) {
      this.#concurrency = change.concurrency;
      this.#next();
    }
  }

  /** Internal: records the gauges at the end of second `second`. */
  sample(second: number): void {
    this.#timeline.set("queued", second, this.#queued);
    this.#timeline.set("busy", second, this.#busy);
  }

  /** A frozen snapshot of the counters now; the report's are the last one. */
  stats(): Readonly<Omit<ServerReport, "timeline">> {
    return Object.freeze({
      received: this.#received,
      served: this.#served,
      errors: this.#errors,
      conflicts: this.#conflicts,
      rejected: this.#rejected,
      dropped: this.#dropped,
      maxQueued: this.#maxQueued,
    });
  }

  /** Internal: the report, with `seconds` timeline rows. */
  report(seconds: number): ServerReport {
    return { ...this.stats(), timeline: this.#timeline.rows(seconds) };
  }
}
