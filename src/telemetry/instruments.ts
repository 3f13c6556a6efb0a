/**
 * The metric instruments (DESIGN.md §3), created once per meter. Durations
 * are in seconds; no instrument uses `valueType: INT` and no counter is
 * ever given a negative value (Deno's built-in SDK rejects both).
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
  failureBudgetRate: Gauge;
  bulkheadInFlight: ObservableGauge;
  bulkheadQueued: ObservableGauge;
  fleetSyncFailures: Counter;
  /**
   * The bulkheads the two bulkhead gauges read when metrics are collected,
   * by name (a bulkhead shared by several policies is one series). Held
   * weakly: a bulkhead nobody uses any more is dropped.
   */
  bulkheads: Map<string, WeakRef<ObservedBulkhead>>;
}

/** What the bulkhead gauges read. */
export interface ObservedBulkhead {
  readonly name: string;
  readonly inFlight: number;
  readonly queued: number;
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

function create(meter: Meter): Instruments {
  const bulkheads = new Map<string, WeakRef<ObservedBulkhead>>();
  const attrs = new Map<string, Attributes>();
  const observe = (read: (b: ObservedBulkhead) => number) => (result: ObservableResult) => {
    for (const [name, ref] of bulkheads) {
      const bulkhead = ref.deref();
      if (bulkhead === undefined) {
        bulkheads.delete(name);
        attrs.delete(name);
        continue;
      }
      let a = attrs.get(name);
      if (a === undefined) attrs.set(name, a = Object.freeze({ "bulwark.bulkhead.name": name }));
      result.observe(read(bulkhead), a);
    }
  };
  const bulkheadInFlight = meter.createObservableGauge("bulwark.bulkhead.in_flight", {
    unit: "{call}",
    description: "Calls running inside the bulkhead, read when metrics are collected.",
  });
  bulkheadInFlight.addCallback(observe((b) => b.inFlight));
  const bulkheadQueued = meter.createObservableGauge("bulwark.bulkhead.queued", {
    unit: "{call}",
    description: "Calls waiting for a bulkhead permit, read when metrics are collected.",
  });
  bulkheadQueued.addCallback(observe((b) => b.queued));
  return {
    bulkheads,
    bulkheadInFlight,
    bulkheadQueued,
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
    events: meter.createCounter("bulwark.events", {
      unit: "{event}",
      description: "Resilience events by type (retry, permanent_fail, deadline_exceeded, ...).",
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
    failureBudgetRate: meter.createGauge("bulwark.failure_budget.rate", {
      unit: "1",
      description: "Failure rate over the failure budget's rolling window.",
    }),
    fleetSyncFailures: meter.createCounter("bulwark.fleet.sync_failures", {
      unit: "{failure}",
      description: "Fleet state store operations that failed (the part decided on local state).",
    }),
  };
}
