// A meter whose instruments throw (a broken SDK) must not change a call's
// outcome nor leave its spans unended (DESIGN.md §3: broken telemetry loses
// telemetry, never calls).
import assert from "node:assert/strict";
import type { Context } from "@opentelemetry/api";
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type Span,
  type SpanProcessor,
  TracerProvider,
} from "@opentelemetry/sdk-trace";
import { policy } from "../../mod.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { installContextManager } from "../_otel.ts";

class Counting implements SpanProcessor {
  started: string[] = [];
  ended: string[] = [];
  onStart(span: Span, _ctx: Context) {
    this.started.push(span.name);
  }
  onEnd(span: ReadableSpan) {
    this.ended.push(span.name);
  }
  forceFlush() {
    return Promise.resolve();
  }
  shutdown() {
    return Promise.resolve();
  }
}

/** A meter provider whose `which` instruments throw on record/add. */
function brokenMeter(which: "histogram" | "counter") {
  const recorded: string[] = [];
  const ok = (name: string) => ({
    record: () => recorded.push(name),
    add: () => recorded.push(name),
  });
  const bad = () => ({
    record: () => {
      throw new Error("broken SDK");
    },
    add: () => {
      throw new Error("broken SDK");
    },
  });
  const meter = {
    createHistogram: (name: string) => which === "histogram" ? bad() : ok(name),
    createCounter: (name: string) => which === "counter" ? bad() : ok(name),
    createGauge: (name: string) => ok(name),
    createObservableGauge: () => ({ addCallback() {} }),
  };
  return { recorded, meterProvider: { getMeter: () => meter } };
}

for (const which of ["histogram", "counter"] as const) {
  for (const via of ["fast", "loop"] as const) {
    Deno.test(`${which}.record throws, ${via}: a successful "full" call ends both its spans`, async () => {
      installContextManager();
      const counting = new Counting();
      const tracerProvider = new TracerProvider({
        spanProcessors: [
          new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() }),
          counting,
        ],
      });
      const { meterProvider, recorded } = brokenMeter(which);
      const clock = new VirtualClock(1_700_000_000_000);
      const p = policy(`broken-${which}`, {
        clock,
        bulkhead: { maxConcurrent: 1 },
        telemetry: { tracerProvider, meterProvider: meterProvider as never, spans: "full" },
      });
      const value = await p.execute(
        () => Promise.resolve("v"),
        via === "loop" ? { signal: new AbortController().signal } : undefined,
      );
      assert.equal(value, "v");
      // the permit came back: the next call is admitted at once
      assert.equal(await p.execute(() => "again"), "again");
      await tracerProvider.shutdown();
      await new Promise((r) => setTimeout(r, 0));
      assert.deepEqual(
        counting.ended.toSorted(),
        counting.started.toSorted(),
        "every started span ended",
      );
      // what the broken SDK leaves working is still recorded: each call's duration
      // (counter broken) or nothing (histograms broken)
      if (which === "counter") {
        assert.equal(recorded.filter((n) => n === "bulwark.call.duration").length, 2);
      }
    });
  }
}
