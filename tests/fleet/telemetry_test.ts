import assert from "node:assert/strict";
import { policy } from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { counterValue, otelHarness } from "../_otel.ts";
import { faultyStore } from "./_helpers.ts";

Deno.test("a failing store counts bulwark.fleet.sync_failures per part and operation", async () => {
  const otel = otelHarness();
  const clock = new VirtualClock();
  const store = faultyStore();
  store.failing = true;
  const p = policy("orders", {
    clock,
    telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
    circuit: { kind: "consecutive", threshold: 1 },
    failureBudget: { threshold: 0.5, windowMs: 10_000, minSamples: 10 },
    retry: { retryBudget: { ratio: 0.1 } },
    fleet: { store, syncIntervalMs: 1_000 },
  });
  try {
    assert.equal(await p.execute(() => "ok"), "ok");
    await clock.advance(2_000); // three syncs of three parts (at start, 1 s, 2 s), all failing
    const metrics = await otel.metrics();
    const failures = (operation: string) =>
      counterValue(metrics, "bulwark.fleet.sync_failures", {
        "bulwark.policy.name": "orders",
        "bulwark.fleet.operation": operation,
      });
    assert.equal(failures("sync"), 9);
    assert.equal(
      counterValue(metrics, "bulwark.events", { "bulwark.event": "fleet_sync_failed" }),
      9,
    );
  } finally {
    await p.fleet.close();
    await otel.shutdown();
  }
});
