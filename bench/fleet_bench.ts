/**
 * The call-path cost of a fleet-synced circuit breaker against a local one
 * (same detector, same run): a fleet breaker decides on memory only, its
 * sync runs in the background. The fleet breaker here has live peers'
 * counts, so every recorded call also computes the fleet ratio (the
 * costlier case). Target: within 1.1x of the local breaker.
 *
 * @module
 */
import { CircuitBreaker } from "../mod.ts";
import { memoryStateStore } from "../fleet.ts";
import { fn } from "./_shared.ts";

const group = "fleet";
const detector = { kind: "count", size: 100, threshold: 0.5 } as const;
const store = memoryStateStore();
const fleet = { store, syncIntervalMs: 60_000 };

const local = new CircuitBreaker({ name: "local", ...detector });
const synced = new CircuitBreaker({ name: "synced", ...detector, fleet });
// A peer with 1,000 healthy calls in its window; two syncs make `synced` read them.
const peer = new CircuitBreaker({ name: "synced", ...detector, fleet });
for (let i = 0; i < 100; i++) peer.recordSuccess();
await peer.fleet.sync();
await synced.fleet.sync();
await peer.fleet.close();

Deno.bench(
  { name: "local breaker: allowCall + await fn() + recordSuccess", group, baseline: true },
  async () => {
    if (local.allowCall()) {
      await fn();
      local.recordSuccess();
    }
  },
);

Deno.bench(
  { name: "fleet-synced breaker: allowCall + await fn() + recordSuccess", group },
  async () => {
    if (synced.allowCall()) {
      await fn();
      synced.recordSuccess();
    }
  },
);

Deno.bench({ name: "local breaker: execute(fn)", group }, async () => {
  await local.execute(fn);
});

Deno.bench({ name: "fleet-synced breaker: execute(fn)", group }, async () => {
  await synced.execute(fn);
});
