/**
 * Telemetry of a durable buffer (DESIGN.md §7): gauges
 * `bulwark.buffer.events` and `bulwark.buffer.bytes`, the counter
 * `bulwark.buffer.dropped` (`bulwark.buffer.drop_reason`) and one span
 * `bulwark.buffer.flush` per flush. Kept apart from the policy's
 * instruments; like them, a broken SDK loses telemetry, never events.
 *
 * @module
 */

import {
  type Attributes,
  type Counter,
  createNoopMeter,
  type Gauge,
  type Meter,
  metrics,
  ProxyTracerProvider,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { BufferDropReason } from "../core/events.ts";
import type { TelemetryOptions } from "./telemetry_options.ts";
import { SCOPE_NAME, VERSION } from "./version.ts";

const NOOP_METER_CLASS = createNoopMeter().constructor;

interface BufferInstruments {
  events: Gauge;
  bytes: Gauge;
  dropped: Counter;
}

const cache = new WeakMap<Meter, BufferInstruments | null>();

function instrumentsFor(meter: Meter): BufferInstruments | undefined {
  let found = cache.get(meter);
  if (found === undefined) {
    try {
      found = {
        events: meter.createGauge("bulwark.buffer.events", {
          unit: "{event}",
          description: "Events stored in a durable buffer.",
        }),
        bytes: meter.createGauge("bulwark.buffer.bytes", {
          unit: "By",
          description: "Bytes stored in a durable buffer (the buffer's size counter).",
        }),
        dropped: meter.createCounter("bulwark.buffer.dropped", {
          unit: "{event}",
          description: "Events a durable buffer let go undelivered, by drop reason.",
        }),
      };
    } catch {
      found = null;
    }
    cache.set(meter, found);
  }
  return found ?? undefined;
}

/** A flush span in progress; {@link FlushSpan.end} records its result. */
export interface FlushSpan {
  /** Ends the span with the flush's figures (and its error, if it stopped on one). */
  end(sent: number, remaining: number, error?: unknown): void;
}

const NO_SPAN: FlushSpan = { end() {} };

/** What a durable buffer reports to; {@link bufferTelemetry} builds one. */
export interface BufferTelemetry {
  /** Records the buffer's current level on the two gauges. */
  level(events: number, bytes: number): void;
  /** Counts dropped events. */
  dropped(reason: BufferDropReason, count: number): void;
  /** Starts a flush span. */
  flush(): FlushSpan;
}

/** Telemetry that records nothing (`telemetry: false`). */
export const NO_BUFFER_TELEMETRY: BufferTelemetry = {
  level() {},
  dropped() {},
  flush: () => NO_SPAN,
};

function tracerFor(options: TelemetryOptions): Tracer | undefined {
  if (options.spans === "off") return undefined;
  if (options.tracerProvider !== undefined) {
    const tracer = options.tracerProvider.getTracer(SCOPE_NAME, VERSION);
    return typeof tracer === "object" && tracer !== null ? tracer as Tracer : undefined;
  }
  const provider = trace.getTracerProvider();
  return provider instanceof ProxyTracerProvider
    ? provider.getDelegateTracer(SCOPE_NAME, VERSION)
    : provider.getTracer(SCOPE_NAME, VERSION);
}

class OtelBufferTelemetry implements BufferTelemetry {
  readonly #name: string;
  readonly #options: TelemetryOptions;
  readonly #instruments: BufferInstruments | undefined;
  readonly #attrs: Attributes;
  readonly #dropAttrs = new Map<BufferDropReason, Attributes>();

  constructor(name: string, options: TelemetryOptions) {
    this.#name = name;
    this.#options = options;
    this.#attrs = Object.freeze({ "bulwark.buffer.name": name });
    let meter: Meter | undefined;
    try {
      meter = (options.meterProvider !== undefined
        ? options.meterProvider.getMeter(SCOPE_NAME, VERSION)
        : metrics.getMeter(SCOPE_NAME, VERSION)) as Meter;
    } catch {
      meter = undefined;
    }
    this.#instruments = typeof meter !== "object" || meter === null ||
        meter.constructor === NOOP_METER_CLASS
      ? undefined
      : instrumentsFor(meter);
  }

  level(events: number, bytes: number): void {
    try {
      this.#instruments?.events.record(events, this.#attrs);
      this.#instruments?.bytes.record(bytes, this.#attrs);
    } catch {
      // A broken SDK must not fail the buffer.
    }
  }

  dropped(reason: BufferDropReason, count: number): void {
    const inst = this.#instruments;
    if (inst === undefined || !(count > 0)) return;
    try {
      let attrs = this.#dropAttrs.get(reason);
      if (attrs === undefined) {
        attrs = Object.freeze({ ...this.#attrs, "bulwark.buffer.drop_reason": reason });
        this.#dropAttrs.set(reason, attrs);
      }
      inst.dropped.add(count, attrs);
    } catch {
      // A broken SDK must not fail the buffer.
    }
  }

  flush(): FlushSpan {
    let span: Span;
    try {
      // Looked up per flush (flushes are rare), so an SDK registered later is used.
      const tracer = tracerFor(this.#options);
      if (tracer === undefined) return NO_SPAN;
      span = tracer.startSpan("bulwark.buffer.flush", {
        kind: SpanKind.INTERNAL,
        attributes: { "bulwark.buffer.name": this.#name },
      });
    } catch {
      return NO_SPAN;
    }
    return {
      end(sent, remaining, error) {
        try {
          span.setAttribute("bulwark.buffer.sent", sent);
          span.setAttribute("bulwark.buffer.remaining", remaining);
          if (error !== undefined) {
            span.setStatus({ code: SpanStatusCode.ERROR });
            span.setAttribute(
              "error.type",
              error instanceof Error ? error.name : typeof error,
            );
            if (error instanceof Error) span.recordException(error);
          }
          span.end();
        } catch {
          // A broken SDK must not fail the flush.
        }
      },
    };
  }
}

/**
 * The telemetry of the buffer `name`: OpenTelemetry through the global API
 * (or the providers in `options`), or nothing at all for `false`.
 */
export function bufferTelemetry(name: string, options: TelemetryOptions | false): BufferTelemetry {
  return options === false ? NO_BUFFER_TELEMETRY : new OtelBufferTelemetry(name, options);
}
