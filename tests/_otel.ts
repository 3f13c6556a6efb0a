// Test helpers for the OpenTelemetry tests: an in-memory tracer and a pull
// metric reader from the npm SDK, wired into a policy's `telemetry` option.
import { context, type HrTime } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from "@opentelemetry/sdk-metrics";

let contextManagerInstalled = false;

/** Registers an AsyncLocalStorage context manager once (needed for span nesting). */
export function installContextManager(): void {
  if (contextManagerInstalled) return;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  contextManagerInstalled = true;
}

/** A pull reader: `collect()` returns what has been recorded. */
export class PullReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** An in-memory trace + metrics pipeline. */
export function otelHarness() {
  installContextManager();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const reader = new PullReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    exporter,
    tracerProvider,
    meterProvider,
    reader,
    async spans(): Promise<ReadableSpan[]> {
      await tracerProvider.forceFlush();
      return exporter.getFinishedSpans();
    },
    async metrics(): Promise<ResourceMetrics> {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics;
    },
    async shutdown(): Promise<void> {
      // The in-memory exporter reports each export on a setTimeout(0): flush
      // and let those callbacks run so the sanitizers see no pending timer.
      await tracerProvider.forceFlush().catch(() => {});
      await tracerProvider.shutdown().catch(() => {});
      await meterProvider.shutdown();
      await new Promise((resolve) => setTimeout(resolve, 0));
    },
  };
}

/** HrTime to milliseconds. */
export function hrMs(t: HrTime): number {
  return t[0] * 1_000 + t[1] / 1e6;
}

/** All data points of the metric `name`. */
export function points(rm: ResourceMetrics, name: string): DataPoint<unknown>[] {
  const out: DataPoint<unknown>[] = [];
  for (const scope of rm.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === name) out.push(...(metric.dataPoints as DataPoint<unknown>[]));
    }
  }
  return out;
}

/** The descriptor of the metric `name`. */
export function descriptor(rm: ResourceMetrics, name: string) {
  for (const scope of rm.scopeMetrics) {
    for (const metric of scope.metrics) {
      if (metric.descriptor.name === name) return metric.descriptor;
    }
  }
  return undefined;
}

/** Data points of the metric `name` whose attributes include `attrs`. */
function matching(rm: ResourceMetrics, name: string, attrs: Record<string, unknown>) {
  return points(rm, name).filter((p) =>
    Object.entries(attrs).every(([k, v]) => p.attributes[k] === v)
  );
}

/** Sum of counter points matching `attrs`. */
export function counterValue(
  rm: ResourceMetrics,
  name: string,
  attrs: Record<string, unknown>,
): number {
  return matching(rm, name, attrs).reduce((sum, p) => sum + (p.value as number), 0);
}

/** Histogram count of points matching `attrs`. */
export function histogramCount(
  rm: ResourceMetrics,
  name: string,
  attrs: Record<string, unknown>,
): number {
  return matching(rm, name, attrs).reduce((sum, p) => sum + (p.value as Histogram).count, 0);
}

/** Histogram sum of points matching `attrs`. */
export function histogramSum(
  rm: ResourceMetrics,
  name: string,
  attrs: Record<string, unknown>,
): number {
  return matching(rm, name, attrs).reduce((sum, p) => sum + ((p.value as Histogram).sum ?? 0), 0);
}
