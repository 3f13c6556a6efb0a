/**
 * Public telemetry settings. Deliberately free of OpenTelemetry types: any
 * object with `getTracer` / `getMeter` works, so users are not tied to one
 * version of `@opentelemetry/api`.
 *
 * @module
 */

/** Anything with `getTracer(name, version)`, such as an OpenTelemetry `TracerProvider`. */
export interface TracerProviderLike {
  /** Returns a tracer for the instrumentation scope `name`. */
  getTracer(name: string, version?: string): unknown;
}

/** Anything with `getMeter(name, version)`, such as an OpenTelemetry `MeterProvider`. */
export interface MeterProviderLike {
  /** Returns a meter for the instrumentation scope `name`. */
  getMeter(name: string, version?: string): unknown;
}

/** Which calls get spans. */
export type SpanMode = "full" | "failures" | "off";

/**
 * OpenTelemetry settings of a policy (`telemetry` option). By default the
 * global API is used, so registering an SDK (or running with
 * `OTEL_DENO=true`) is all it takes; `false` turns telemetry off.
 */
export interface TelemetryOptions {
  /** Tracer provider to use instead of the global one. */
  tracerProvider?: TracerProviderLike;
  /** Meter provider to use instead of the global one. */
  meterProvider?: MeterProviderLike;
  /**
   * `"full"` (default): a span for every call and attempt. `"failures"`: spans
   * only for calls that fail at least once, created retroactively with their
   * true start times. `"off"`: metrics only.
   */
  spans?: SpanMode;
}

/** The keys of {@link TelemetryOptions}. */
export const TELEMETRY_OPTION_KEYS: readonly string[] = [
  "tracerProvider",
  "meterProvider",
  "spans",
];

/** The allowed values of {@link TelemetryOptions.spans}. */
export const SPAN_MODES: readonly SpanMode[] = ["full", "failures", "off"];
