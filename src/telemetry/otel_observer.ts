/**
 * The OpenTelemetry listener layer: turns a policy's calls, attempts and
 * events into spans and metrics (names per DESIGN.md §3). The only code in
 * Bulwark that imports `@opentelemetry/api`.
 *
 * @module
 */

import {
  type Attributes,
  createNoopMeter,
  type Meter,
  metrics,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { Clock } from "../core/clock.ts";
import type { CircuitState, ResilienceEvent } from "../core/events.ts";
import type { CallObserver, CallTracer } from "../engine/parts.ts";
import {
  type Instruments,
  instrumentsFor,
  type ObservedBudget,
  type ObservedBulkhead,
} from "./instruments.ts";
import type { SpanMode, TelemetryOptions } from "./telemetry_options.ts";
import { SCOPE_NAME, VERSION } from "./version.ts";
import { OtelCallTracer } from "./otel_call_tracer.ts";

/** Calls between looks for a newly registered global tracer provider. */
const RECHECK_EVERY = 1024;

const NOOP_METER_CLASS = createNoopMeter().constructor;

/** `make()`'s result when it is an object; undefined when it throws or returns none. */
function guarded(make: () => unknown): object | undefined {
  try {
    const made = make();
    return typeof made === "object" && made !== null ? made : undefined;
  } catch {
    return undefined;
  }
}

/** The instruments of `meter`; undefined for no meter or the API's no-op meter. */
function instrumentsOf(meter: object | undefined): Instruments | undefined {
  return meter === undefined || meter.constructor === NOOP_METER_CLASS
    ? undefined
    : instrumentsFor(meter as Meter);
}

/** The instruments of the global meter provider's meter, once an SDK registered one. */
function globalInstruments(): Instruments | undefined {
  return instrumentsOf(guarded(() => metrics.getMeter(SCOPE_NAME, VERSION)));
}

/** Gauge value of each circuit state (isolated is a forced open). */
const CIRCUIT_STATE_VALUE: Readonly<Record<CircuitState, number>> = {
  closed: 0,
  half_open: 1,
  open: 2,
  isolated: 2,
};

/**
 * One policy's telemetry. With no tracer provider or meter provider
 * registered it returns no tracer at all, so an uninstrumented process pays
 * one check per call.
 */
export class OtelObserver implements CallObserver {
  readonly #policy: string;
  readonly #spans: SpanMode;
  readonly #explicitTracer: Tracer | undefined;
  #tracer: Tracer | undefined;
  #skipChecks = 0;
  #instruments: Instruments | undefined;
  /** True while metrics may still come: no meter provider was given and none is registered yet. */
  #meterLate: boolean;
  readonly #attrCache = new Map<string, Attributes>();
  /** The policy's bulkhead, read by the bulkhead gauges. */
  #bulkhead: ObservedBulkhead | undefined;
  /** The policy's failure budget, read by the failure-rate gauge. */
  #budget: ObservedBudget | undefined;
  /** The attribute sets of a successful call, built once (no key to build per call). */
  readonly #success: { call: Attributes; attempt: Attributes; event: Attributes };

  /**
   * Resolves the tracer and meter from `options` or the global API. Never
   * throws: a provider whose `getTracer` throws (or returns no object) means
   * no spans, one whose `getMeter` or instrument factories throw means no
   * metrics. Broken telemetry loses telemetry, never calls.
   */
  constructor(policy: string, options: TelemetryOptions = {}) {
    this.#policy = policy;
    let spans = options.spans ?? "full";
    if (options.tracerProvider !== undefined && spans !== "off") {
      const tracer = guarded(() => options.tracerProvider!.getTracer(SCOPE_NAME, VERSION));
      // A broken explicit provider turns spans off rather than falling back
      // to the global provider.
      if (tracer === undefined) spans = "off";
      else this.#explicitTracer = tracer as Tracer;
    }
    this.#spans = spans;
    const explicitMeter = options.meterProvider;
    this.#instruments = explicitMeter !== undefined
      ? instrumentsOf(guarded(() => explicitMeter.getMeter(SCOPE_NAME, VERSION)))
      : globalInstruments();
    // The global meter provider has no proxy: look for one registered later.
    this.#meterLate = explicitMeter === undefined && this.#instruments === undefined;
    this.#success = {
      call: this.attrs("call|success|", () => ({
        "bulwark.policy.name": policy,
        "bulwark.outcome": "success",
      })),
      attempt: this.attrs("attempt|", () => ({
        "bulwark.policy.name": policy,
        "bulwark.attempt.outcome": "success",
      })),
      event: this.attrs("event|success|", () => ({
        "bulwark.policy.name": policy,
        "bulwark.event": "success",
      })),
    };
  }

  /** The attribute sets of a successful call's metrics. */
  get successAttrs(): { call: Attributes; attempt: Attributes; event: Attributes } {
    return this.#success;
  }

  /** The tracer to use now: undefined with spans off or while no SDK is registered. */
  #currentTracer(): Tracer | undefined {
    return this.#spans === "off" ? undefined : this.#explicitTracer ?? this.#tracer;
  }

  /** True while a tracer or a meter may still be registered later (late binding). */
  #waiting(): boolean {
    return this.#meterLate ||
      (this.#spans !== "off" && this.#explicitTracer === undefined && this.#tracer === undefined);
  }

  /**
   * Looks for what is still missing: a tracer provider and a meter provider
   * registered since (late binding, as the OpenTelemetry API's proxy tracer
   * does; the API has no proxy for meters). Called every
   * {@link RECHECK_EVERY} calls while something is missing, so an SDK
   * registered after the policy was created is picked up within that many
   * calls, each provider on its own.
   */
  #lookLate(): void {
    if (this.#meterLate) this.#lookForMeter();
    if (this.#spans === "off" || this.#explicitTracer !== undefined || this.#tracer !== undefined) {
      return;
    }
    const provider = trace.getTracerProvider();
    if (provider instanceof ProxyTracerProvider) {
      // Only the proxy's delegate (a registered SDK) records anything.
      this.#tracer = provider.getDelegateTracer(SCOPE_NAME, VERSION);
    } else {
      this.#tracer = provider.getTracer(SCOPE_NAME, VERSION);
    }
  }

  /**
   * Hands over the countdown to the next look for a registered SDK (see
   * {@link OtelObserver.start}): with no meter, a caller may skip `start()`
   * for that many calls. Infinity when nothing can ever be recorded (no
   * meter and spans off); 0 when a meter or a tracer is there.
   */
  takeQuietCalls(): number {
    if (this.#instruments !== undefined) return 0;
    if (this.#spans === "off" && !this.#meterLate) return Infinity;
    if (this.#tracer !== undefined || this.#explicitTracer !== undefined) return 0;
    const quiet = this.#skipChecks;
    this.#skipChecks = 0;
    return quiet;
  }

  /** Takes the global meter if one was registered since (late binding, as for the tracer). */
  #lookForMeter(): void {
    const instruments = globalInstruments();
    if (instruments === undefined) return;
    this.#instruments = instruments;
    this.#meterLate = false;
    if (this.#bulkhead !== undefined) this.watchBulkhead(this.#bulkhead);
    if (this.#budget !== undefined) this.watchFailureBudget(this.#budget);
  }

  /** Starts following a call; undefined when neither traces nor metrics are recorded. */
  start(_policy: string, clock: Clock, now: number): CallTracer | undefined {
    if (this.#waiting()) {
      // Something is still missing: look for it every RECHECK_EVERY calls.
      if (this.#skipChecks > 0) this.#skipChecks--;
      else {
        this.#skipChecks = RECHECK_EVERY - 1;
        try {
          this.#lookLate();
        } catch {
          // A broken global provider must not fail the call: trace nothing.
        }
      }
    }
    const tracer = this.#currentTracer();
    if (tracer === undefined && this.#instruments === undefined) return undefined;
    try {
      return new OtelCallTracer(
        this,
        tracer,
        this.#spans,
        now === now ? now : clock.now(),
      );
    } catch {
      // A broken tracer (or SDK) must not fail the call: trace nothing.
      return undefined;
    }
  }

  /** The policy name. */
  get policy(): string {
    return this.#policy;
  }

  /** The metric instruments, when a meter provider is registered. */
  get instruments(): Instruments | undefined {
    return this.#instruments;
  }

  /** A cached attribute set for a metric, built once per distinct key. */
  attrs(key: string, build: () => Attributes): Attributes {
    let found = this.#attrCache.get(key);
    if (found === undefined) {
      found = Object.freeze(build());
      this.#attrCache.set(key, found);
    }
    return found;
  }

  /**
   * Records an event that belongs to no call (or whose call is `cause`):
   * circuit transitions and failure-budget changes become spans linked to
   * the causing call span, plus their metrics.
   */
  partEvent(event: ResilienceEvent, cause?: Span): void {
    try {
      this.#partEvent(event, cause);
    } catch {
      // A broken SDK must not reach the part (or the call) that emitted the event.
    }
  }

  #partEvent(event: ResilienceEvent, cause?: Span): void {
    const inst = this.#instruments;
    switch (event.type) {
      case "circuit_transition": {
        if (inst !== undefined) {
          inst.circuitState.record(
            CIRCUIT_STATE_VALUE[event.to],
            this.attrs(`circuit|${event.policy}`, () => ({ "bulwark.circuit.name": event.policy })),
          );
          inst.circuitTransitions.add(
            1,
            this.attrs(`transition|${event.policy}|${event.from}|${event.to}`, () => ({
              "bulwark.circuit.name": event.policy,
              "bulwark.circuit.from": event.from,
              "bulwark.circuit.to": event.to,
            })),
          );
        }
        this.#partSpan("bulwark.circuit.transition", event.timestamp, cause, {
          "bulwark.circuit.name": event.policy,
          "bulwark.circuit.from": event.from,
          "bulwark.circuit.to": event.to,
          "bulwark.circuit.reason": event.reason,
        });
        break;
      }
      case "failure_budget_breach":
        // (The rate itself is a gauge read when metrics are collected.)
        this.#partSpan("bulwark.failure_budget.breach", event.timestamp, cause, {
          "bulwark.failure_budget.name": event.policy,
          "bulwark.failure_budget.rate": event.rate,
          "bulwark.failure_budget.threshold": event.threshold,
          "bulwark.failure_budget.samples": event.samples,
        });
        break;
      case "fleet_sync_failed":
        inst?.fleetSyncFailures.add(
          1,
          this.attrs(`fleet|${event.policy}|${event.operation}`, () => ({
            "bulwark.policy.name": event.policy,
            "bulwark.fleet.operation": event.operation,
          })),
        );
        break;
    }
    this.countEvent(event);
  }

  /** Adds one to `bulwark.events` for `event`. */
  countEvent(event: ResilienceEvent): void {
    const inst = this.#instruments;
    if (inst === undefined) return;
    const cls = "errorClass" in event ? event.errorClass : undefined;
    inst.events.add(
      1,
      this.attrs(`event|${event.type}|${cls ?? ""}`, () => {
        const a: Attributes = { "bulwark.policy.name": this.#policy, "bulwark.event": event.type };
        if (cls !== undefined) a["bulwark.error.class"] = cls;
        return a;
      }),
    );
  }

  /**
   * Has the bulkhead gauges read `bulkhead` when metrics are collected (now,
   * or once a meter provider is registered): nothing is recorded per call.
   */
  watchBulkhead(bulkhead: ObservedBulkhead): void {
    this.#bulkhead = bulkhead;
    this.#instruments?.bulkheads.set(bulkhead.name, new WeakRef(bulkhead));
  }

  /**
   * Has the failure-rate gauge read `budget` when metrics are collected (now,
   * or once a meter provider is registered): nothing is recorded per call.
   */
  watchFailureBudget(budget: ObservedBudget): void {
    this.#budget = budget;
    this.#instruments?.budgets.set(budget.name, new WeakRef(budget));
  }

  #partSpan(name: string, time: number, cause: Span | undefined, attributes: Attributes): void {
    const tracer = this.#currentTracer();
    if (tracer === undefined) return;
    tracer.startSpan(name, {
      kind: SpanKind.INTERNAL,
      root: true,
      startTime: time,
      attributes,
      links: cause === undefined ? [] : [{ context: cause.spanContext() }],
    }).end(time);
  }
}
