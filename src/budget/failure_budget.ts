/**
 * The failure budget: a rolling failure rate with a threshold, reporting when
 * the rate goes over it and when it comes back.
 *
 * @module
 */

import { type Clock, clockOption } from "../core/clock.ts";
import { type EventListener, EventSink } from "../core/events.ts";
import { MAX_BUCKETS, RollingWindow } from "../core/rolling_window.ts";
import {
  functionValue,
  integerAtLeast,
  integerBetween,
  knownKeys,
  nameOption,
  numberAbove,
  numberBetween,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import { type BudgetFleet, budgetFleet } from "../fleet/budget_link.ts";
import type { FleetHandle, FleetOptions } from "../fleet/options.ts";

/** What a policy does while its failure budget is breached. */
export type FailureBudgetAction = "observe" | "reject";

/** What {@link FailureBudgetOptions.onBreach} receives. */
export interface FailureBudgetBreach {
  /** The budget's name. */
  name: string;
  /** Failure rate over the window when the breach began, 0..1. */
  rate: number;
  /** The configured threshold. */
  threshold: number;
  /** Samples in the window when the breach began. */
  samples: number;
}

/** Options of {@link FailureBudget}. */
export interface FailureBudgetOptions {
  /** Name used in events and errors. Default `"failure-budget"`. */
  name?: string;
  /**
   * Highest acceptable failure rate, a number between 0 and 1. The budget is
   * breached while the rate is strictly above it.
   */
  threshold: number;
  /** Length of the rolling window in milliseconds. A finite number > 0. */
  windowMs: number;
  /** Fewest samples in the window before a breach can be declared. An integer >= 1. */
  minSamples: number;
  /** Buckets the window is split into (its granularity). An integer >= 1. Default 10. */
  buckets?: number;
  /** Called once when a breach begins. A throwing callback is ignored. */
  onBreach?: (info: FailureBudgetBreach) => void;
  /**
   * `"observe"` (default) only reports breaches; `"reject"` tells a policy to
   * fail calls fast with `FailureBudgetExceededError` while breached.
   */
  action?: FailureBudgetAction;
  /** Receives `failure_budget_breach` and `failure_budget_recovered` events. */
  onEvent?: EventListener;
  /** Where the time comes from. Default {@link systemClock}. */
  clock?: Clock;
  /** Decides on the samples of every budget of this name on `fleet.store` (docs/fleet.md). */
  fleet?: FleetOptions;
}

const KEYS: readonly string[] = [
  "name",
  "threshold",
  "windowMs",
  "minSamples",
  "buckets",
  "onBreach",
  "action",
  "onEvent",
  "clock",
  "fleet",
];

const ACTIONS: readonly string[] = ["observe", "reject"];

const SAMPLES = 0;
const FAILURES = 1;

/**
 * Tracks the failure rate of recent calls over a rolling window and flags a
 * breach while it is too high: an SLO-style error budget.
 *
 * The budget is breached while the window holds at least `minSamples` samples
 * and the failure rate is strictly above `threshold` (a rate equal to the
 * threshold is within budget). The state is re-evaluated on every
 * {@link FailureBudget.record} and every {@link FailureBudget.isBreached}, so
 * a breach also ends when old failures age out of the window, with no timer
 * involved. Each change emits one event (`failure_budget_breach` or
 * `failure_budget_recovered`), and `onBreach` runs once at the start of
 * each breach.
 *
 * The window is `buckets` fixed buckets of `windowMs / buckets`: memory does
 * not grow with traffic, and a sample is forgotten at the end of its
 * bucket's window, between `windowMs - windowMs / buckets` and `windowMs`
 * after it was recorded.
 *
 * @example
 * ```ts
 * import { FailureBudget } from "@bulwark/bulwark";
 * import { VirtualClock } from "@bulwark/bulwark/testing";
 * import assert from "node:assert/strict";
 *
 * const clock = new VirtualClock();
 * const breaches: number[] = [];
 * const budget = new FailureBudget({
 *   threshold: 0.25,
 *   windowMs: 10_000,
 *   minSamples: 4,
 *   onBreach: ({ rate }) => breaches.push(rate),
 *   clock,
 * });
 * for (const failed of [false, true, false, true]) budget.record(failed);
 * assert.equal(budget.failureRate(), 0.5);
 * assert.equal(budget.isBreached(), true);
 * assert.deepEqual(breaches, [0.5]);
 *
 * await clock.advance(10_000); // the failures age out of the window
 * assert.equal(budget.isBreached(), false);
 * ```
 */
export class FailureBudget {
  // Field order is memory layout: what record() reads comes first.
  readonly #window: RollingWindow;
  #breached = false;
  readonly #minSamples: number;
  /** The configured threshold, 0..1. */
  readonly threshold: number;
  /** Receives this budget's events; `onEvent` is its first listener. */
  readonly events: EventSink;
  /** Name used in events and errors. */
  readonly name: string;
  /** What a policy does while breached. */
  readonly action: FailureBudgetAction;
  readonly #onBreach?: (info: FailureBudgetBreach) => void;
  readonly #clock: Clock;
  /** `[samples, failures]` of the other instances in a fleet (zeros without one). */
  readonly #fleet: BudgetFleet;

  /** Creates a budget. Throws a `TypeError` or `RangeError` on invalid options. */
  constructor(options: FailureBudgetOptions) {
    objectValue("options", options);
    knownKeys("", options, KEYS);
    this.name = nameOption("name", options.name, "failure-budget");
    this.threshold = numberBetween("threshold", options.threshold, 0, 1);
    const windowMs = numberAbove("windowMs", options.windowMs, 0);
    this.#minSamples = integerAtLeast("minSamples", options.minSamples, 1);
    const buckets = integerBetween("buckets", options.buckets ?? 10, 1, MAX_BUCKETS);
    if (options.onBreach !== undefined) {
      this.#onBreach = functionValue("onBreach", options.onBreach);
    }
    const action = options.action ?? "observe";
    if (typeof action !== "string") typeError("action", '"observe" or "reject"', action);
    if (!ACTIONS.includes(action)) rangeError("action", '"observe" or "reject"', action);
    this.action = action;
    this.#clock = clockOption(options.clock ?? undefined, ["now"]);
    this.events = new EventSink();
    if (options.onEvent !== undefined) this.events.add(functionValue("onEvent", options.onEvent));
    this.#window = new RollingWindow({ windowMs, buckets, counters: 2, clock: this.#clock });
    const window = this.#window;
    this.#fleet = budgetFleet(options.fleet, "failure_budget", {
      name: this.name,
      clock: this.#clock,
      events: this.events,
    }, (now) => [
      window.sum(SAMPLES, now),
      window.sum(FAILURES, now),
    ]);
  }

  /** The fleet handle (`sync()`, `close()`) of a budget with a `fleet` option; does nothing otherwise. */
  get fleet(): FleetHandle {
    return this.#fleet.handle;
  }

  /**
   * Records one call's outcome: `true` if it failed. `at` is when it
   * happened, in the clock's time, for callers that have just read the
   * clock (a policy passes its attempt's time); default `clock.now()`.
   */
  record(failed: boolean, at?: number): void {
    // One clock read per record (none when the caller passes the time it
    // already read), shared by the window's updates and sums.
    const now = at === undefined || at !== at ? this.#clock.now() : at;
    // One move of the window for both counts; the totals it leaves are the
    // window's sums at `now`, read without moving it again.
    const window = this.#window;
    window.addTwo(now, SAMPLES, failed ? FAILURES : -1);
    const peers = this.#fleet.peers;
    this.#decide(
      window.total(SAMPLES) + peers[SAMPLES],
      window.total(FAILURES) + peers[FAILURES],
      now,
    );
  }

  /** Failure rate over the window, 0..1; 0 when the window is empty. In a fleet, the fleet's. */
  failureRate(): number {
    const peers = this.#fleet.peers;
    const samples = this.#window.sum(SAMPLES) + peers[SAMPLES];
    return samples === 0 ? 0 : (this.#window.sum(FAILURES) + peers[FAILURES]) / samples;
  }

  /** Samples (calls recorded) in the window. In a fleet, the fleet's. */
  samples(): number {
    return this.#window.sum(SAMPLES) + this.#fleet.peers[SAMPLES];
  }

  /**
   * True while the window holds at least `minSamples` samples and the failure
   * rate is above `threshold`. Reading it may end (or begin) a breach and
   * emit the event for it.
   */
  isBreached(): boolean {
    return this.#evaluate();
  }

  #evaluate(now: number = this.#clock.now()): boolean {
    const peers = this.#fleet.peers;
    return this.#decide(
      this.#window.sum(SAMPLES, now) + peers[SAMPLES],
      this.#window.sum(FAILURES, now) + peers[FAILURES],
      now,
    );
  }

  /** Breached or not, given the window's (and the fleet's) counts at `now`; emits a change. */
  #decide(samples: number, failures: number, now: number): boolean {
    const rate = samples === 0 ? 0 : failures / samples;
    const breached = samples >= this.#minSamples && rate > this.threshold;
    if (breached === this.#breached) return breached;
    // Flip first, so a listener or onBreach that reads isBreached() sees the
    // new state and cannot report the same change twice.
    this.#breached = breached;
    if (this.events.active) {
      this.events.emit({
        type: breached ? "failure_budget_breach" : "failure_budget_recovered",
        policy: this.name,
        timestamp: now,
        rate,
        threshold: this.threshold,
        samples,
      });
    }
    if (breached && this.#onBreach !== undefined) {
      try {
        const result: unknown = this.#onBreach({
          name: this.name,
          rate,
          threshold: this.threshold,
          samples,
        });
        // An async onBreach that rejects must not become an unhandled rejection.
        if (result instanceof Promise) result.catch(() => {});
      } catch {
        // onBreach observes the budget; its failure must not reach the caller.
      }
    }
    return this.#breached;
  }
}
