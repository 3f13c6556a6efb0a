/**
 * The metric instruments (DESIGN.md §3), created once per meter. Durations
 * are in seconds; no instrument uses `valueType: INT` and no counter is
 * ever given a negative value (Deno's built-in SDK rejects both).
 *
 * Gauges of what changes on every call are read when metrics are collected
 * (observable gauges), so a call records nothing for them: the bulkhead
 * gauges read the bulkheads, the failure-rate gauge the failure budgets.
 * (A counter stays synchronous: an observable one would lose the counts since
 * the last export when Deno's built-in SDK shuts down, which collects
 * observable instruments only on its export interval.)
 *
 * @module
 */

import type {
  Attributes,
  Counter,
  Gauge,
  Histogram,
  Meter,
  ObservableGauge,
  ObservableResult,
} from "@opentelemetry/api";

/** Every instrument Bulwark records to. */
export interface Instruments {
  callDuration: Histogram;
  attemptDuration: Histogram;
  events: Counter;
  retryDelay: Histogram;
  circuitState: Gauge;
  circuitTransitions: Counter;
  failureBudgetRate: ObservableGauge;
  bulkheadInFlight: ObservableGauge;
  bulkheadQueued: ObservableGauge;
  fleetSyncFailures: Counter;
  /**
   * The bulkheads the two bulkhead gauges read when metrics are collected,
   * by name (a bulkhead shared by several policies is one series). Held
   * weakly: a bulkhead nobody uses any more is dropped.
   */
  bulkheads: Map<string, WeakRef<ObservedBulkhead>>;
  /** The failure budgets the failure-rate gauge reads, by name, held weakly. */
  budgets: Map<string, WeakRef<ObservedBudget>>;
}

/** What the bulkhead gauges read. */
export interface ObservedBulkhead {
  readonly name: string;
  readonly inFlight: number;
  readonly queued: number;
}

/** What the failure-rate gauge reads. */
export interface ObservedBudget {
  readonly name: string;
  failureRate(): number;
}

/** Per meter: its instruments, or null when creating them threw (a broken SDK). */
const cache = new WeakMap<Meter, Instruments | null>();

/**
 * Bucket boundaries in seconds for the duration histograms: the SDKs'
 * defaults (0, 5, 10, ... 10,000) are meant for milliseconds and would put
 * nearly every call in the first bucket. These are OpenTelemetry's semantic
 * conventions' recommendation for HTTP durations.
 */
const DURATION_BUCKETS_S = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];
/** Retry delays run longer (backoff caps, Retry-After). */
const DELAY_BUCKETS_S = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Returns the instruments of `meter`, creating them on first use; undefined
 * when `meter` is not an object or any of its `create*` methods throws (a
 * broken SDK then records no metrics at all, and never fails a policy).
 */
export function instrumentsFor(meter: Meter): Instruments | undefined {
  if (typeof meter !== "object" || meter === null) return undefined;
  let found = cache.get(meter);
  if (found === undefined) {
    try {
      found = create(meter);
    } catch {
      found = null;
    }
    cache.set(meter, found);
  }
  return found ?? undefined;
}

/**
 * A callback that observes `read(part)` for each part in `parts` that is
 * still alive, with the attribute `attribute` = its name.
 */
function observeParts<P>(
  parts: Map<string, WeakRef<P & object>>,
  attribute: string,
  read: (part: P) => number,
): (result: ObservableResult) => void {
  const attrs = new Map<string, Attributes>();
  return (result) => {
    for (const [name, ref] of parts) {
      const part = ref.deref();
      if (part === undefined) {
        parts.delete(name);
        attrs.delete(name);
        continue;
      }
      let a = attrs.get(name);
      if (a === undefined) attrs.set(name, a = Object.freeze({ [attribute]: name }));
      result.observe(read(part), a);
    }
  };
}

function create(meter: Meter): Instruments {
  const bulkheads = new Map<string, WeakRef<ObservedBulkhead>>();
  const budgets = new Map<string, WeakRef<ObservedBudget>>();
  const bulkheadInFlight = meter.createObservableGauge("bulwark.bulkhead.in_flight", {
    unit: "{call}",
    description: "Calls running inside the bulkhead, read when metrics are collected.",
  });
  bulkheadInFlight.addCallback(
    observeParts(bulkheads, "bulwark.bulkhead.name", (b) => b.inFlight),
  );
  const bulkheadQueued = meter.createObservableGauge("bulwark.bulkhead.queued", {
    unit: "{call}",
    description: "Calls waiting for a bulkhead permit, read when metrics are collected.",
  });
  bulkheadQueued.addCallback(observeParts(bulkheads, "bulwark.bulkhead.name", (b) => b.queued));
  const failureBudgetRate = meter.createObservableGauge("bulwark.failure_budget.rate", {
    unit: "1",
    description: "Failure rate over the failure budget's rolling window, read when collected.",
  });
  failureBudgetRate.addCallback(
    observeParts(budgets, "bulwark.failure_budget.name", (b) => b.failureRate()),
  );
  return {
    bulkheads,
    budgets,
    bulkheadInFlight,
    bulkheadQueued,
    failureBudgetRate,
    events: meter.createCounter("bulwark.events", {
      unit: "{event}",
      description: "Resilience events by type (retry, permanent_fail, deadline_exceeded, ...).",
    }),
    callDuration: meter.createHistogram("bulwark.call.duration", {
      unit: "s",
      description: "Duration of calls through a policy, retries and sleeps included.",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    }),
    attemptDuration: meter.createHistogram("bulwark.attempt.duration", {
      unit: "s",
      description: "Duration of single attempts.",
      advice: { explicitBucketBoundaries: DURATION_BUCKETS_S },
    }),
    retryDelay: meter.createHistogram("bulwark.retry.delay", {
      unit: "s",
      description: "Delay before each retry.",
      advice: { explicitBucketBoundaries: DELAY_BUCKETS_S },
    }),
    circuitState: meter.createGauge("bulwark.circuit.state", {
      unit: "1",
      description: "Circuit breaker state: 0 closed, 1 half_open, 2 open (or isolated).",
    }),
    circuitTransitions: meter.createCounter("bulwark.circuit.transitions", {
      unit: "{transition}",
      description: "Circuit breaker state transitions.",
    }),
    fleetSyncFailures: meter.createCounter("bulwark.fleet.sync_failures", {
      unit: "{failure}",
      description: "Fleet state store operations that failed (the part decided on local state).",
    }),
  };
}
