/**
 * `policy()`: the composition users call.
 *
 * @module
 */

import {
  knownKeys,
  nameOption,
  nullOption,
  objectValue,
  typeError,
  under,
} from "../core/validate.ts";
import { OtelObserver } from "../telemetry/otel_observer.ts";
import {
  SPAN_MODES,
  TELEMETRY_OPTION_KEYS,
  type TelemetryOptions,
} from "../telemetry/telemetry_options.ts";
import type { Operation } from "../engine/attempt.ts";
import type { RetryOptions } from "../retry/retry_options.ts";
import {
  Engine,
  type EngineOptions,
  type EngineParts,
  type ExecuteOptions,
} from "../engine/engine.ts";
import { RetryBudget, type RetryBudgetOptions } from "../budget/retry_budget.ts";
import { CircuitBreaker, type CircuitBreakerOptions } from "../circuit/circuit_breaker.ts";
import { FailureBudget, type FailureBudgetOptions } from "../budget/failure_budget.ts";
import { Bulkhead, type BulkheadOptions } from "../bulkhead/bulkhead.ts";
import { RateLimiter, type RateLimiterOptions } from "../ratelimit/rate_limiter.ts";
import { HedgeDelay, type HedgeOptions } from "../engine/hedge_delay.ts";
import type { Clock } from "../core/clock.ts";
import type { EventSink } from "../core/events.ts";
import { type FleetHandle, fleetOption, type FleetOptions, NO_FLEET } from "../fleet/options.ts";

/** The `retry` block of {@link PolicyOptions}: retry options plus a retry budget. */
export interface PolicyRetryOptions extends RetryOptions {
  /**
   * A fleet-friendly cap on retries: options for a budget of this policy's
   * own, or a {@link RetryBudget} shared by several policies.
   */
  retryBudget?: RetryBudgetOptions | RetryBudget;
}

/** Options of {@link policy}. */
export interface PolicyOptions extends EngineOptions {
  /**
   * Retry behaviour. A call makes up to 3 attempts unless `retry.maxAttempts`
   * says otherwise, with or without this block (`{ maxAttempts: 1 }` turns
   * retries off).
   */
  retry?: PolicyRetryOptions;
  /**
   * A circuit breaker checked before every attempt: options for one of this
   * policy's own (named after the policy unless `name` is given), or a
   * {@link CircuitBreaker} shared with other policies.
   */
  circuit?: CircuitBreakerOptions | CircuitBreaker;
  /** A rolling failure-rate budget fed by every attempt: options or a shared {@link FailureBudget}. */
  failureBudget?: FailureBudgetOptions | FailureBudget;
  /** A concurrency limit with a queue, one permit per call: options or a shared {@link Bulkhead}. */
  bulkhead?: BulkheadOptions | Bulkhead;
  /**
   * A token bucket taken once per call before the bulkhead: options for a
   * limiter of this policy's own, or a {@link RateLimiter} shared with other
   * policies. A call with no token within `maxWaitMs` (or before its
   * deadline) is refused with `RateLimitedError`.
   */
  rateLimit?: RateLimiterOptions | RateLimiter;
  /**
   * Hedged attempts: when an attempt has not settled after `delayMs` (a
   * number, or a percentile of this policy's recent successful attempts),
   * another starts beside it; the first success wins. See docs/hedging.md.
   */
  hedge?: HedgeOptions;
  /** OpenTelemetry settings; `false` turns telemetry off. Default on. */
  telemetry?: TelemetryOptions | false;
  /**
   * Shares the circuit, failure budget and retry budget this policy builds
   * with every policy of the same name on `fleet.store` (docs/fleet.md).
   * Probe leases last `deadlineMs` (else `attemptTimeoutMs`) unless
   * `fleet.leaseMs` says otherwise.
   */
  fleet?: FleetOptions;
}

/** The keys of {@link PolicyOptions}. */
export const POLICY_OPTION_KEYS: readonly string[] = [
  "deadlineMs",
  "attemptTimeoutMs",
  "retry",
  "circuit",
  "failureBudget",
  "bulkhead",
  "rateLimit",
  "hedge",
  "classify",
  "onEvent",
  "telemetry",
  "clock",
  "random",
  "fleet",
];

/** Uses a shared part as is, or builds one owned by the policy from options. */
function part<P extends { events: EventSink }, O extends object>(
  path: string,
  value: O | P | undefined,
  type: new (options: O) => P,
  defaults: Partial<O>,
): { part: P; owned: boolean } | undefined {
  if (value === undefined) return undefined;
  if (value instanceof type) return { part: value, owned: false };
  objectValue(path, value);
  return { part: under(path, () => new type({ ...defaults, ...(value as O) })), owned: true };
}

function validateTelemetry(telemetry: TelemetryOptions): void {
  objectValue("telemetry", telemetry);
  knownKeys("telemetry", telemetry, TELEMETRY_OPTION_KEYS);
  if (telemetry.spans !== undefined && !SPAN_MODES.includes(telemetry.spans)) {
    typeError("telemetry.spans", '"full", "failures" or "off"', telemetry.spans);
  }
  for (const [key, method] of [["tracerProvider", "getTracer"], ["meterProvider", "getMeter"]]) {
    const provider = (telemetry as Record<string, unknown>)[key];
    if (
      provider !== undefined &&
      (typeof provider !== "object" || provider === null ||
        typeof (provider as Record<string, unknown>)[method] !== "function")
    ) {
      typeError(`telemetry.${key}`, `an object with ${method}()`, provider);
    }
  }
}

/** The policy's `fleet` option, validated, with one `instanceId` and the lease from the deadline. */
function policyFleet(options: PolicyOptions): FleetOptions | undefined {
  const fleet = fleetOption(options.fleet);
  if (fleet === undefined) return undefined;
  const leaseMs = [fleet.leaseMs, options.deadlineMs, options.attemptTimeoutMs]
    .find((ms) => typeof ms === "number" && ms > 0 && ms < Infinity);
  return { ...fleet, leaseMs };
}

/**
 * A named, reusable resilience policy. Create one per downstream dependency
 * and share it across calls; it holds no per-call state. Build it with
 * {@link policy} (or `policyFromJSON`).
 *
 * @example The composed parts are reachable for stats and sharing
 * ```ts
 * import { Policy, policy } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * const db = policy("db", {
 *   telemetry: false,
 *   circuit: { kind: "consecutive", threshold: 5, breakMs: 10_000 },
 *   bulkhead: { maxConcurrent: 4 },
 * });
 * assert.ok(db instanceof Policy);
 * assert.equal(db.circuit?.state, "closed");
 * assert.equal(await db.execute(() => "row"), "row");
 * assert.equal(db.bulkhead?.inFlight, 0);
 * ```
 */
export class Policy {
  /** The policy's name, used in events, errors and telemetry. */
  readonly name: string;
  readonly #engine: Engine;
  readonly #circuit: CircuitBreaker | undefined;
  readonly #failureBudget: FailureBudget | undefined;
  readonly #bulkhead: Bulkhead | undefined;
  readonly #retryBudget: RetryBudget | undefined;
  readonly #rateLimiter: RateLimiter | undefined;
  readonly #fleet: FleetHandle;
  /** Removes this policy's listeners from shared parts. */
  readonly #detach: Array<() => void> = [];

  /** Validates `options`; prefer {@link policy}. */
  constructor(name: string, options: PolicyOptions = {}) {
    nameOption("name", name);
    objectValue("options", options);
    knownKeys("", options, POLICY_OPTION_KEYS);
    const telemetry = options.telemetry ?? {};
    let observer: OtelObserver | undefined;
    if (telemetry !== false) {
      validateTelemetry(telemetry);
      observer = new OtelObserver(name, telemetry);
    }
    this.name = name;
    const clock = options.clock;
    const fleet = policyFleet(options);
    const local = { name, ...(clock === undefined ? {} : { clock }) } as {
      name: string;
      clock?: Clock;
    };
    // The parts that can share state also get the fleet option (the bulkhead cannot).
    const owned = fleet === undefined ? local : { ...local, fleet };
    // The breaker also draws from the policy's random source (a jittered breakMs).
    const circuit = part("circuit", options.circuit, CircuitBreaker, {
      ...owned,
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    const failureBudget = part("failureBudget", options.failureBudget, FailureBudget, owned);
    const bulkhead = part("bulkhead", options.bulkhead, Bulkhead, local);
    const rateLimit = part("rateLimit", options.rateLimit, RateLimiter, local);
    if (options.hedge === null) nullOption("hedge");
    const hedge = options.hedge === undefined ? undefined : new HedgeDelay(options.hedge);
    let retryOptions: RetryOptions | undefined = options.retry;
    let retryBudget: RetryBudget | undefined;
    if (options.retry !== undefined) {
      objectValue("retry", options.retry);
      const { retryBudget: budget, ...rest } = options.retry;
      retryOptions = rest;
      if (budget !== undefined) {
        if (budget === null) nullOption("retry.retryBudget");
        if (!(budget instanceof RetryBudget)) {
          if (typeof budget !== "object" || Array.isArray(budget)) {
            typeError("retry.retryBudget", "options for a RetryBudget, or a RetryBudget", budget);
          }
        }
        retryBudget = budget instanceof RetryBudget ? budget : under(
          "retry.retryBudget",
          () => new RetryBudget({ ...owned, ...budget }),
        );
      }
    }
    const parts: EngineParts = {
      observer,
      circuit: circuit?.part,
      failureBudget: failureBudget?.part,
      bulkhead: bulkhead?.part,
      retryBudget,
      rateLimiter: rateLimit?.part,
      hedge,
      ownsParts: [circuit, failureBudget, bulkhead, rateLimit].every((p) => p?.owned !== false),
    };
    const engine = new Engine(name, options, retryOptions, "retry", parts);
    for (const p of [circuit, failureBudget, bulkhead, rateLimit]) {
      if (p === undefined) continue;
      const remove = p.part.events.add((event) => engine.forwardPartEvent(event, p.owned));
      if (!p.owned) this.#detach.push(remove);
    }
    const ownsRetryBudget = retryBudget !== undefined &&
      !(options.retry?.retryBudget instanceof RetryBudget);
    if (ownsRetryBudget && fleet !== undefined) {
      // The retry budget's own events are the engine's to report, but not its store failures.
      retryBudget!.events.add((e) => {
        if (e.type === "fleet_sync_failed") engine.forwardPartEvent(e, true);
      });
    }
    this.#engine = engine;
    this.#circuit = circuit?.part;
    this.#failureBudget = failureBudget?.part;
    this.#bulkhead = bulkhead?.part;
    this.#retryBudget = retryBudget;
    this.#rateLimiter = rateLimit?.part;
    const handles = [circuit, failureBudget].flatMap((p) => p?.owned ? [p.part.fleet] : []);
    if (ownsRetryBudget) handles.push(retryBudget!.fleet);
    this.#fleet = fleet === undefined ? NO_FLEET : {
      sync: () => Promise.all(handles.map((h) => h.sync())).then(() => {}),
      close: () => Promise.all(handles.map((h) => h.close())).then(() => {}),
    };
  }

  /**
   * The fleet handle of the parts this policy built with its `fleet` option:
   * `sync()` syncs them all now, `close()` stops their background sync. Does
   * nothing without `fleet`.
   */
  get fleet(): FleetHandle {
    return this.#fleet;
  }

  /**
   * Detaches the policy from the shared parts it was given (it stops
   * listening to their events), so a short-lived policy built around a
   * long-lived breaker, budget or bulkhead can be garbage-collected. The
   * policy still works afterwards; it just no longer reports those parts'
   * events. Parts it built from options need no disposal.
   */
  [Symbol.dispose](): void {
    for (const remove of this.#detach.splice(0)) remove();
  }

  /** The policy's circuit breaker, if it has one. */
  get circuit(): CircuitBreaker | undefined {
    return this.#circuit;
  }

  /** The policy's failure budget, if it has one. */
  get failureBudget(): FailureBudget | undefined {
    return this.#failureBudget;
  }

  /** The policy's bulkhead, if it has one. */
  get bulkhead(): Bulkhead | undefined {
    return this.#bulkhead;
  }

  /** The policy's rate limiter, if it has one. */
  get rateLimiter(): RateLimiter | undefined {
    return this.#rateLimiter;
  }

  /** The policy's retry budget, if it has one. */
  get retryBudget(): RetryBudget | undefined {
    return this.#retryBudget;
  }

  /**
   * Runs `fn` under the policy. `fn` receives `{ signal, attempt, deadline }`
   * and should pass `signal` on to whatever it awaits.
   *
   * Resolves with `fn`'s value. Rejects with the original error for a
   * permanent failure (or resolves with a permanent failing value, such as a
   * 404 `Response`), `RetryExhaustedError` when a retry limit is reached,
   * `DeadlineExceededError` at the deadline, and `signal.reason` when the
   * caller aborts.
   */
  execute<T>(fn: Operation<T>, options?: ExecuteOptions<T>): Promise<T> {
    return this.#engine.run(fn, options);
  }
}

/**
 * Creates a {@link Policy}: a deadline across all attempts and sleeps, a
 * per-attempt timeout, and retries with error classification, per-class
 * budgets and backoff.
 *
 * @example Retrying a flaky operation in virtual time
 * ```ts
 * import { constant, policy, TransientError } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const payments = policy("payments", {
 *   clock,
 *   telemetry: false,
 *   deadlineMs: 2_000,
 *   retry: { maxAttempts: 5, budgets: { transient: 4 }, backoff: constant(100) },
 * });
 * let calls = 0;
 * const result = payments.execute(() => {
 *   calls++;
 *   return calls < 3 ? Promise.reject(new TransientError("blip")) : Promise.resolve("paid");
 * });
 * await clock.runAll();
 * assert.equal(await result, "paid");
 * assert.equal(calls, 3);
 * assert.equal(clock.now(), 200);
 * ```
 */
export function policy(name: string, options: PolicyOptions = {}): Policy {
  return new Policy(name, options);
}
