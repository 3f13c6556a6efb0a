/**
 * A simulated client: calls a server (directly or through a pool) through a
 * real {@link Policy} running on the simulation's clock and random source.
 *
 * @module
 */

import type { Clock } from "../core/clock.ts";
import type { CircuitState } from "../core/events.ts";
import { AttemptTimeoutError, PoolTimeoutError } from "../core/errors.ts";
import type { RandomSource } from "../core/random.ts";
import {
  knownKeys,
  numberAbove,
  objectValue,
  optionPath,
  typeError,
  under,
} from "../core/validate.ts";
import type { AttemptContext } from "../engine/attempt.ts";
import { LatencyHistogram } from "../core/latency_histogram.ts";
import { type Policy, policy, type PolicyOptions } from "../policy/policy.ts";
import { PolicyDeclarationError, policyFromJSON } from "../policy/policy_declaration.ts";
import { SimPool } from "./pool.ts";
import { SimServer } from "./server.ts";
import { Timeline } from "./timeline.ts";

/** Options of a simulated client ({@link Simulation.client}). */
export interface ClientOptions {
  /** Where requests go: a server, or a pool in front of one. */
  target: SimServer | SimPool;
  /**
   * Timeout of each attempt (ms), like the HTTP client's `timeoutMs`: it
   * becomes the policy's `attemptTimeoutMs` (the smaller one when both are set).
   */
  timeoutMs?: number;
  /**
   * The policy: `PolicyOptions` or a JSON declaration as `policyFromJSON`
   * accepts. The simulation supplies `clock` and `random`; telemetry is off
   * unless the declaration turns it on. Default: `policy()`'s defaults (3 attempts).
   */
  policy?: PolicyOptions | Record<string, unknown>;
}

/** A client's counters. */
export interface ClientStats {
  /** Calls started. */
  requests: number;
  /** Calls that succeeded. */
  succeeded: number;
  /** Calls that failed (every give-up: retries exhausted, deadline, open circuit, pool timeout...). */
  failed: number;
  /** Attempts sent, retries included. */
  requestsSent: number;
  /** Attempts answered (any status) before the caller gave up on them. */
  responsesReceived: number;
  /** Attempts that timed out (`timeoutMs` / `attemptTimeoutMs`). */
  timeouts: number;
  /** Attempts after the first. */
  retries: number;
  /** Failed calls (= `failed`). */
  failures: number;
  /** Attempts that gave up waiting for a pool connection (`PoolTimeoutError`). */
  connectionWaitTimeouts: number;
  /**
   * Attempts abandoned for another reason than their own timeout: the call's
   * deadline, a hedge that lost the race, the caller giving up. Once a run
   * drains, `requestsSent = responsesReceived + timeouts +
   * connectionWaitTimeouts + cancelledAttempts`.
   */
  cancelledAttempts: number;
}

/** Mean and percentiles of call latency (ms, from start to settle); `null` when no call settled. */
export interface LatencyPercentiles {
  /** Mean. */
  mean: number | null;
  /** Median. */
  p50: number | null;
  /** 90th percentile. */
  p90: number | null;
  /** 99th percentile. */
  p99: number | null;
  /** 99.9th percentile. */
  p999: number | null;
}

/** One row of a client's timeline. */
export interface ClientTimelineRow {
  /** Second (row `t` covers [t, t+1) s). */
  t: number;
  /** Calls started (offered load). */
  started: number;
  /** Calls that succeeded (goodput). */
  succeeded: number;
  /** Calls that failed. */
  failed: number;
  /** Attempts sent. */
  attempts: number;
  /** 99th percentile latency of calls that settled in this second; `null` if none. */
  p99: number | null;
  /** The policy's circuit state at the end of the second (only with a circuit). */
  circuit?: CircuitState;
}

/** A client's part of the report. */
export interface ClientReport {
  /** Counters. */
  stats: ClientStats;
  /** Call latency percentiles. */
  latency: LatencyPercentiles;
  /** `requestsSent / requests` (0 when no call started). */
  amplification: number;
  /** One row per second. */
  timeline: ClientTimelineRow[];
}

const CLIENT_KEYS = ["target", "timeoutMs", "policy"];

/** An answer with a failing status, as the simulated client's operation throws it. */
export class ServerStatusError extends Error {
  /** The HTTP status (classified by `defaultClassifier`: 503 transient, 409 concurrency...). */
  readonly status: number;

  /**
   * Creates the error.
   *
   * @example
   * ```ts
   * import { ServerStatusError } from "@bulwark/bulwark/sim";
   * import { defaultClassifier } from "@bulwark/bulwark";
   * import assert from "node:assert/strict";
   *
   * assert.equal(defaultClassifier(new ServerStatusError(409)), "concurrency");
   * ```
   */
  constructor(status: number) {
    super(`server answered ${status}`);
    this.name = "ServerStatusError";
    this.status = status;
  }
}

/** True when `value` holds only JSON data (no functions, no class instances). */
function isJsonData(value: unknown): boolean {
  if (value === null || typeof value !== "object") return typeof value !== "function";
  if (Array.isArray(value)) return value.every(isJsonData);
  if (Object.getPrototypeOf(value) !== Object.prototype) return false;
  return Object.values(value).every(isJsonData);
}

const p = (h: LatencyHistogram, q: number): number | null => {
  const v = h.percentile(q);
  return Number.isNaN(v) ? null : v;
};

/**
 * A simulated client. Build it with {@link Simulation.client}; loads start
 * its calls ({@link Simulation.load}).
 *
 * @example
 * ```ts
 * import { latency, Simulation } from "@bulwark/bulwark/sim";
 * import assert from "node:assert/strict";
 *
 * const sim = new Simulation({ seed: 1 });
 * const db = sim.server("db", { latency: latency.constant(10) });
 * const web = sim.client("web", { target: db, timeoutMs: 100, policy: { retry: { maxAttempts: 2 } } });
 * sim.load(web, { kind: "constant", ratePerSecond: 10, fromMs: 0, toMs: 1_000 });
 * const report = await sim.run({ durationMs: 1_000 });
 * assert.equal(report.clients.web.stats.succeeded, 10);
 * assert.equal(web.responseTimePercentile(0.99), 10);
 * ```
 */
export class SimClient {
  /** The client's name in the report. */
  readonly name: string;
  /** The real policy every call runs through. */
  readonly policy: Policy;
  readonly #clock: Clock;
  readonly #server: SimServer;
  readonly #pool: SimPool | undefined;
  readonly #latency = new LatencyHistogram();
  readonly #second = new LatencyHistogram();
  #secondIndex = 0;
  readonly #timeline = new Timeline(["started", "succeeded", "failed", "attempts"] as const);
  readonly #p99: (number | null)[] = [];
  readonly #circuit: CircuitState[] = [];
  #requests = 0;
  #succeeded = 0;
  #failed = 0;
  #sent = 0;
  #received = 0;
  #timeouts = 0;
  #retries = 0;
  #waitTimeouts = 0;
  #cancelled = 0;

  /** Internal: use {@link Simulation.client}. */
  constructor(name: string, options: ClientOptions, clock: Clock, random: RandomSource) {
    objectValue("options", options);
    knownKeys("", options, CLIENT_KEYS);
    const target = options.target;
    if (target instanceof SimPool) {
      this.#pool = target;
      this.#server = target.target;
    } else if (target instanceof SimServer) {
      this.#server = target;
    } else {
      typeError("target", "a server or pool of this simulation", target);
    }
    const timeoutMs = options.timeoutMs === undefined
      ? undefined
      : numberAbove("timeoutMs", options.timeoutMs, 0);
    this.name = name;
    this.#clock = clock;
    this.policy = this.#buildPolicy(options.policy ?? {}, timeoutMs, clock, random);
  }

  #buildPolicy(
    declared: PolicyOptions | Record<string, unknown>,
    timeoutMs: number | undefined,
    clock: Clock,
    random: RandomSource,
  ): Policy {
    objectValue("policy", declared);
    for (const key of ["clock", "random"]) {
      const value = (declared as Record<string, unknown>)[key];
      if (value !== undefined) {
        typeError(`policy.${key}`, "left out (the simulation supplies it)", value);
      }
    }
    const own = (declared as PolicyOptions).attemptTimeoutMs;
    const attemptTimeoutMs = timeoutMs === undefined
      ? own
      : typeof own === "number"
      ? Math.min(own, timeoutMs)
      : timeoutMs;
    const merged = {
      telemetry: false,
      ...declared,
      ...(attemptTimeoutMs === undefined ? {} : { attemptTimeoutMs }),
    };
    if (!isJsonData(declared)) {
      return under(
        "policy",
        () => policy(this.name, { ...(merged as PolicyOptions), clock, random }),
      );
    }
    try {
      return policyFromJSON(this.name, merged, { clock, random });
    } catch (error) {
      if (!(error instanceof PolicyDeclarationError)) throw error;
      // Name the fields from the client's options down: policy.retry.maxAttempts.
      throw new PolicyDeclarationError(
        this.name,
        error.issues.map((i) => ({
          path: optionPath("policy", i.path),
          message: i.path === "" ? `policy: ${i.message}` : `policy.${i.message}`,
        })),
      );
    }
  }

  /** Internal: starts one call. */
  call(): void {
    const start = this.#clock.now();
    this.#requests++;
    this.#timeline.add("started", start);
    this.policy.execute(this.#operation).then(
      () => this.#settled(start, true),
      () => this.#settled(start, false),
    );
  }

  #settled(start: number, ok: boolean): void {
    const now = this.#clock.now();
    if (ok) {
      this.#succeeded++;
      this.#timeline.add("succeeded", now);
    } else {
      this.#failed++;
      this.#timeline.add("failed", now);
    }
    const ms = now - start;
    this.#latency.record(ms);
    const second = Math.floor(now / 1000);
    if (second !== this.#secondIndex) this.#closeSecond(second);
    this.#second.record(ms);
  }

  /** Stores the finished second's p99 and starts `next`. */
  #closeSecond(next: number): void {
    while (this.#p99.length < this.#secondIndex) this.#p99.push(null);
    this.#p99[this.#secondIndex] = p(this.#second, 99);
    this.#second.reset();
    this.#secondIndex = next;
  }

  readonly #operation = (ctx: AttemptContext): Promise<number> => {
    const signal = ctx.signal;
    this.#sent++;
    if (ctx.attempt > 1) this.#retries++;
    this.#timeline.add("attempts", this.#clock.now());
    return this.#pool === undefined ? this.#send(signal) : this.#viaPool(this.#pool, signal);
  };

  /** Counts an abandoned attempt: timed out, or cancelled (deadline, losing hedge, caller). */
  #abandoned(signal: AbortSignal): void {
    if (signal.reason instanceof AttemptTimeoutError) this.#timeouts++;
    else this.#cancelled++;
  }

  #send(signal: AbortSignal): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.#server.receive((status) => {
        // The caller gave up (the answer, or the drop, comes after): nobody reads it.
        if (signal.aborted) return this.#abandoned(signal);
        this.#received++;
        if (status < 400) resolve(status);
        else reject(new ServerStatusError(status));
      }, signal);
    });
  }

  async #viaPool(pool: SimPool, signal: AbortSignal): Promise<number> {
    let connection;
    try {
      connection = await pool.acquire(signal);
    } catch (error) {
      if (error instanceof PoolTimeoutError) this.#waitTimeouts++;
      else if (signal.aborted) this.#abandoned(signal);
      throw error;
    }
    if (signal.aborted) {
      this.#abandoned(signal);
      pool.release(connection, false);
      throw signal.reason;
    }
    return new Promise<number>((resolve, reject) => {
      let open = true;
      const onAbort = () => {
        // The caller closes the connection mid request (as an HTTP client does).
        open = false;
        this.#abandoned(signal);
        pool.release(connection, true);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#server.receive((status) => {
        if (!open) return;
        open = false;
        signal.removeEventListener("abort", onAbort);
        this.#received++;
        pool.release(connection, false);
        if (status < 400) resolve(status);
        else reject(new ServerStatusError(status));
      }, signal);
    });
  }

  /**
   * A frozen snapshot of the counters now (during a run too, e.g. from
   * `onProgress`); the report's `stats` are the last one.
   */
  stats(): Readonly<ClientStats> {
    return Object.freeze({
      requests: this.#requests,
      succeeded: this.#succeeded,
      failed: this.#failed,
      requestsSent: this.#sent,
      responsesReceived: this.#received,
      timeouts: this.#timeouts,
      retries: this.#retries,
      failures: this.#failed,
      connectionWaitTimeouts: this.#waitTimeouts,
      cancelledAttempts: this.#cancelled,
    });
  }

  /** Calls started and not settled yet. */
  get inFlight(): number {
    return this.#requests - this.#succeeded - this.#failed;
  }

  /**
   * The q-quantile (q in [0, 1]) of call latency so far, in ms; NaN before
   * any call settled.
   */
  responseTimePercentile(q: number): number {
    return this.#latency.percentile(q * 100);
  }

  /** Internal: records the circuit state at the end of second `second`. */
  sample(second: number): void {
    const circuit = this.policy.circuit;
    if (circuit !== undefined) this.#circuit[second] = circuit.state;
  }

  /** Internal: the report, with `seconds` timeline rows. */
  report(seconds: number): ClientReport {
    this.#closeSecond(this.#secondIndex);
    const rows = this.#timeline.rows(seconds) as ClientTimelineRow[];
    for (const row of rows) {
      row.p99 = this.#p99[row.t] ?? null;
      if (this.policy.circuit !== undefined) row.circuit = this.#circuit[row.t] ?? "closed";
    }
    const h = this.#latency;
    return {
      stats: { ...this.stats() },
      latency: {
        mean: h.count === 0 ? null : h.mean,
        p50: p(h, 50),
        p90: p(h, 90),
        p99: p(h, 99),
        p999: p(h, 99.9),
      },
      amplification: this.#requests === 0 ? 0 : this.#sent / this.#requests,
      timeline: rows,
    };
  }
}
