import assert from "node:assert/strict";
import { latency, Simulation, type SimulationReport } from "@bulwark/bulwark/sim";

const sum = <R>(rows: readonly R[], key: keyof R) =>
  rows.reduce((s, row) => s + (row[key] as number), 0);

function assertTimelinesAddUp(report: SimulationReport): void {
  for (const c of Object.values(report.clients)) {
    assert.equal(sum(c.timeline, "started"), c.stats.requests);
    assert.equal(sum(c.timeline, "succeeded"), c.stats.succeeded);
    assert.equal(sum(c.timeline, "failed"), c.stats.failed);
    assert.equal(sum(c.timeline, "attempts"), c.stats.requestsSent);
  }
  for (const s of Object.values(report.servers)) assert.equal(sum(s.timeline, "served"), s.served);
}

Deno.test("a call settling at the run's last instant, a whole second, is in the timeline", async () => {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", { latency: latency.constant(1_000) });
  const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
  sim.load(web, { kind: "burst", count: 1, atMs: 0 });
  const report = await sim.run({ durationMs: 1 });
  assert.equal(report.endMs, 1_000);
  assert.equal(report.clients.web.stats.succeeded, 1);
  assert.deepEqual(report.clients.web.timeline.map((r) => r.succeeded), [0, 1]);
  assert.deepEqual(report.servers.db.timeline.map((r) => r.served), [0, 1]);
  assertTimelinesAddUp(report);
});

Deno.test("constant rate, constant latency: the last call served at a whole second is counted", async () => {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", { latency: latency.constant(50) });
  const web = sim.client("web", { target: db });
  sim.load(web, { kind: "constant", ratePerSecond: 20, fromMs: 0, toMs: 3_000 });
  const report = await sim.run({ durationMs: 3_000 });
  assert.equal(report.endMs, 3_000);
  assert.equal(report.servers.db.served, 60);
  assert.equal(report.clients.web.stats.succeeded, 60);
  assertTimelinesAddUp(report);
  assert.deepEqual(report.servers.db.timeline.map((r) => r.served), [19, 20, 20, 1]);
});
