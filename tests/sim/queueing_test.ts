import assert from "node:assert/strict";
import { latency, Simulation } from "@bulwark/bulwark/sim";

Deno.test("M/M/1: exponential server (mean 10 ms, concurrency 1) under Poisson 50/s has mean latency 20 ms within 10% over 100,000 requests", async () => {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", { latency: latency.exponential(10), concurrency: 1 });
  const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
  // 2,000 s at 50/s: about 100,000 calls.
  sim.load(web, { kind: "poisson", ratePerSecond: 50, toMs: 2_000_000 });
  const report = await sim.run({ durationMs: 2_000_000 });
  const { stats, latency: l } = report.clients.web;
  assert.ok(stats.requests >= 99_000 && stats.requests <= 101_000, `requests ${stats.requests}`);
  assert.equal(stats.succeeded, stats.requests);
  // Sojourn time of M/M/1: 1 / (mu - lambda) = 1 / (100/s - 50/s) = 20 ms.
  assert.ok(Math.abs(l.mean! - 20) <= 2, `mean ${l.mean}`);
  // And it is exponential: median 20·ln 2, p99 20·ln 100 (within 10%).
  assert.ok(Math.abs(l.p50! - 20 * Math.LN2) <= 0.1 * 20 * Math.LN2, `p50 ${l.p50}`);
  assert.ok(Math.abs(l.p99! - 20 * Math.log(100)) <= 0.1 * 20 * Math.log(100), `p99 ${l.p99}`);
  assert.ok(Math.abs(web.responseTimePercentile(0.5) - l.p50!) < 1e-9);
});

Deno.test("a constant-latency server with concurrency c saturates at c / latency", async () => {
  for (const c of [1, 4, 16]) {
    const sim = new Simulation({ seed: 2 });
    const db = sim.server("db", { latency: latency.constant(10), concurrency: c, queue: 0 });
    const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
    // 2,000 calls per second offered, far above c / 10 ms.
    sim.load(web, { kind: "constant", ratePerSecond: 2_000, toMs: 10_000 });
    const report = await sim.run({ durationMs: 10_000 });
    const server = report.servers.db;
    // Every second but the first finishes exactly c workers × 100 requests.
    for (const row of server.timeline.slice(1, 10)) assert.equal(row.served, c * 100, `c=${c}`);
    assert.equal(server.served, c * 1_000);
    assert.equal(server.rejected, 20_000 - c * 1_000);
    assert.equal(report.clients.web.stats.succeeded, c * 1_000);
  }
});

Deno.test("a queue holds what the workers cannot take yet (FIFO), and turns away the rest", async () => {
  const sim = new Simulation({ seed: 3 });
  const db = sim.server("db", {
    latency: latency.constant(10),
    concurrency: 1,
    queue: 2,
    rejectStatus: 429,
  });
  const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
  sim.load(web, { kind: "burst", count: 5, atMs: 100 });
  const report = await sim.run({ durationMs: 1_000 });
  assert.deepEqual(
    { ...report.servers.db, timeline: undefined },
    {
      received: 5,
      served: 3,
      errors: 0,
      conflicts: 0,
      rejected: 2,
      dropped: 0,
      maxQueued: 2,
      timeline: undefined,
    },
  );
  // Served one after the other: 10, 20 and 30 ms; the rejected two at once.
  // (Percentiles come from a histogram within 1%; the largest is exact.)
  const l = report.clients.web.latency;
  assert.ok(Math.abs(l.p50! - 10) <= 0.1, `p50 ${l.p50}`);
  assert.equal(l.mean, 12);
  assert.equal(l.p99, 30);
  assert.equal(report.clients.web.stats.failed, 2);
});

Deno.test("a run drains calls in flight after durationMs, for at most drainMs", async () => {
  const build = () => {
    const sim = new Simulation();
    const db = sim.server("db", { latency: latency.constant(1_000), concurrency: 1 });
    const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
    sim.load(web, { kind: "burst", count: 5, atMs: 0 });
    return sim;
  };
  // Five one-second requests, one at a time: the last one ends at 5 s.
  const full = await build().run({ durationMs: 1 });
  assert.equal(full.drained, true);
  assert.equal(full.endMs, 5_000);
  assert.equal(full.clients.web.stats.succeeded, 5);
  const cut = await build().run({ durationMs: 1, drainMs: 2_500 });
  assert.equal(cut.drained, false);
  assert.equal(cut.endMs, 2_501);
  assert.equal(cut.clients.web.stats.succeeded, 2);
  assert.equal(cut.servers.db.received - cut.servers.db.served, 3); // still in the server
});
