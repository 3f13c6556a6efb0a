/**
 * The retry budget: a fleet-friendly cap on retries relative to requests.
 *
 * @module
 */

import { type Clock, clockOption } from "../core/clock.ts";
import { MAX_BUCKETS, RollingWindow } from "../core/rolling_window.ts";
import { type EventListener, EventSink } from "../core/events.ts";
import {
  integerBetween,
  knownKeys,
  nameOption,
  numberAbove,
  numberAtLeast,
  objectValue,
} from "../core/validate.ts";
import { type BudgetFleet, budgetFleet } from "../fleet/budget_link.ts";
import type { FleetHandle, FleetOptions } from "../fleet/options.ts";

/** Options of {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per request over the window, on top of the floor. A
   * finite number >= 0: `0.1` lets retries add at most 10 % to the load;
   * values above 1 are allowed (a retry-heavy client).
   */
  ratio: number;
  /**
   * Retries per second allowed whatever the traffic, so a quiet client can
   * still retry. A finite number >= 0. Default 10.
   */
  minPerSecond?: number;
  /** Length of the rolling window in milliseconds. A finite number > 0. Default 10,000. */
  windowMs?: number;
  /** Buckets the window is split into (its granularity). An integer >= 1. Default 10. */
  buckets?: number;
  /** Where the time comes from. Default {@link systemClock}. */
  clock?: Clock;
  /** Name used in events. A non-empty string. Default `"retry-budget"`. */
  name?: string;
  /** Receives a `retry_budget_exhausted` event each time a retry is refused. */
  onEvent?: EventListener;
  /**
   * Shares the budget with every retry budget of this name on `fleet.store`:
   * the ratio applies to the fleet's requests and `minPerSecond` is granted
   * once per fleet, each instance spending at most its share (split by the
   * live instances of its last sync; docs/fleet.md).
   */
  fleet?: FleetOptions;
}

/** A snapshot of a {@link RetryBudget}'s window. */
export interface RetryBudgetStats {
  /** Requests (first attempts) recorded in the window. */
  requests: number;
  /** Retries granted in the window. */
  retries: number;
  /** Retries the window allows in all: `ratio * requests + minPerSecond * windowMs / 1000`. */
  allowance: number;
  /** Retries {@link RetryBudget.tryRetry} would grant now, before any more requests. */
  available: number;
}

const KEYS: readonly string[] = [
  "ratio",
  "minPerSecond",
  "windowMs",
  "buckets",
  "clock",
  "name",
  "onEvent",
  "fleet",
];

const REQUESTS = 0;
const RETRIES = 1;

/**
 * Slack for floating-point products such as `0.57 * 100`
 * (= 56.99999999999999), so that an allowance that is an integer on paper
 * grants that many retries.
 */
const EPSILON = 1e-9;

/**
 * Caps retries at a fraction of recent requests, so that when a dependency is
 * down, every client retrying it does not multiply the load on it (a "retry
 * storm"). Per-call limits such as `maxAttempts: 5` still let a fleet send
 * five times its normal traffic to a failing service; a retry budget keeps
 * the total near `1 + ratio` times.
 *
 * Call {@link RetryBudget.recordRequest} once per logical call (its first
 * attempt) and {@link RetryBudget.tryRetry} before each retry. Over the
 * rolling window, a retry is granted when
 *
 * ```text
 * retries + 1 <= ratio * requests + minPerSecond * windowMs / 1000
 * ```
 *
 * where `requests` and `retries` are the counts in the window, and the
 * retry is then counted. The second term is a floor that lets a client with
 * little traffic retry at all (with the defaults, 100 retries per 10 s
 * window). Both counts age out together, a bucket (`windowMs / buckets`) at
 * a time, so a sustained load is held to `ratio` retries per request plus
 * the floor. Over any stretch of time `T`, a budget therefore grants at most
 * `ratio * requests + minPerSecond * windowMs / 1000 * (floor(T / windowMs) + 1)`
 * retries.
 *
 * The idea is the retry budget of Twitter's Finagle (a token bucket that
 * requests deposit into and retries withdraw from, with a per-second
 * reserve), also recommended by the Google SRE book ("Handling Overload":
 * a per-client limit on the ratio of retries to requests). This one counts
 * both over a fixed-bucket rolling window instead of keeping a balance.
 *
 * The budget keeps no per-caller state: share one instance between every
 * policy that calls the same dependency.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 0, clock });
 * for (let i = 0; i < 10; i++) budget.recordRequest();
 * assert.equal(budget.tryRetry(), true);
 * assert.equal(budget.tryRetry(), true);
 * assert.equal(budget.tryRetry(), false); // 2 retries for 10 requests is 0.2
 * assert.deepEqual(budget.stats(), { requests: 10, retries: 2, allowance: 2, available: 0 });
 * ```
 */
export class RetryBudget {
  /** Retries allowed per request over the window, on top of the floor. */
  readonly ratio: number;
  /** Retries per second allowed whatever the traffic. */
  readonly minPerSecond: number;
  /** Length of the rolling window in milliseconds. */
  readonly windowMs: number;
  /** Name used in events. */
  readonly name: string;
  /** Receives this budget's events; `onEvent` is its first listener. */
  readonly events: EventSink;
  readonly #reserve: number;
  readonly #window: RollingWindow;
  readonly #clock: Clock;
  /** `[requests, retries]` of the other instances in a fleet (zeros without one). */
  readonly #fleet: BudgetFleet;

  /** Creates a budget. Throws a `TypeError` or `RangeError` on invalid options. */
  constructor(options: RetryBudgetOptions) {
    objectValue("options", options);
    knownKeys("", options, KEYS);
    this.ratio = numberAtLeast("ratio", options.ratio, 0);
    this.minPerSecond = numberAtLeast("minPerSecond", options.minPerSecond ?? 10, 0);
    this.windowMs = numberAbove("windowMs", options.windowMs ?? 10_000, 0);
    const buckets = integerBetween("buckets", options.buckets ?? 10, 1, MAX_BUCKETS);
    const clock = clockOption(options.clock ?? undefined, ["now"]);
    this.name = nameOption("name", options.name, "retry-budget");
    this.events = new EventSink();
    if (options.onEvent !== undefined) this.events.add(options.onEvent);
    this.#clock = clock;
    this.#reserve = (this.minPerSecond * this.windowMs) / 1000;
    const window = new RollingWindow({ windowMs: this.windowMs, buckets, counters: 2, clock });
    this.#window = window;
    this.#fleet = budgetFleet(options.fleet, "retry_budget", {
      name: this.name,
      clock,
      events: this.events,
    }, (now) => [
      window.sum(REQUESTS, now),
      window.sum(RETRIES, now),
    ]);
  }

  /** The fleet handle (`sync()`, `close()`) of a budget with a `fleet` option; does nothing otherwise. */
  get fleet(): FleetHandle {
    return this.#fleet.handle;
  }

  /** Counts one request: call it once per logical call, for its first attempt only. */
  recordRequest(): void {
    this.#window.add(REQUESTS);
  }

  /**
   * Asks for one retry: if the budget allows it, counts it and returns true;
   * otherwise returns false and counts nothing.
   */
  tryRetry(): boolean {
    const now = this.#clock.now();
    const fleet = this.#fleet;
    const peers = fleet.peers;
    const own = this.#window.sum(RETRIES, now);
    const requests = this.#window.sum(REQUESTS, now) + peers[REQUESTS];
    const retries = own + peers[RETRIES];
    const allowed = this.ratio * requests + EPSILON;
    // In a fleet, this instance's own retries also stay within the fleet's ratio plus its share
    // of the floor (split by the live instances of the last sync), so that instances bursting
    // between two syncs do not each spend the whole floor.
    if (
      retries + 1 > allowed + this.#reserve || own + 1 > allowed + this.#reserve / fleet.instances
    ) {
      if (this.events.active) {
        this.events.emit({
          type: "retry_budget_exhausted",
          policy: this.name,
          timestamp: now,
          requests,
          retries,
        });
      }
      return false;
    }
    this.#window.add(RETRIES, 1, now);
    return true;
  }

  /** The counts in the window now (in a fleet, the fleet's), and what they allow. */
  stats(): RetryBudgetStats {
    const peers = this.#fleet.peers;
    const requests = this.#window.sum(REQUESTS) + peers[REQUESTS];
    const retries = this.#window.sum(RETRIES) + peers[RETRIES];
    const allowance = this.ratio * requests + this.#reserve;
    const available = Math.max(0, Math.floor(allowance - retries + EPSILON));
    return { requests, retries, allowance, available };
  }
}
