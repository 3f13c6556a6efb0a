import assert from "node:assert/strict";
import { latency, Simulation } from "@bulwark/bulwark/sim";

/**
 * The herd of the AWS Architecture Blog's "Exponential Backoff And Jitter"
 * (Marc Brooker, 2015): 100 clients contend for a server that takes one
 * request at a time and answers 409 to the others; each retries until it
 * succeeds (base 5 ms, cap 2 s).
 */
async function herd(type: string, seed: number): Promise<{ calls: number; completionMs: number }> {
  const sim = new Simulation({ seed });
  const db = sim.server("db", {
    latency: latency.constant(5),
    concurrency: 1,
    queue: 0,
    rejectStatus: 409,
  });
  const web = sim.client("web", {
    target: db,
    policy: { retry: { maxAttempts: 100_000, backoff: { type, baseMs: 5, maxMs: 2_000 } } },
  });
  sim.load(web, { kind: "burst", count: 100, atMs: 0 });
  const report = await sim.run({ durationMs: 1 });
  assert.equal(report.clients.web.stats.succeeded, 100);
  assert.equal(report.servers.db.rejected, report.clients.web.stats.requestsSent - 100);
  return {
    calls: report.clients.web.stats.requestsSent,
    completionMs: web.responseTimePercentile(1),
  };
}

/** Mean calls and completion time over 10 seeds. */
async function mean(type: string): Promise<{ calls: number; completionMs: number }> {
  let calls = 0;
  let completionMs = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const r = await herd(type, seed);
    calls += r.calls / 10;
    completionMs += r.completionMs / 10;
  }
  return { calls, completionMs };
}

Deno.test("herd: exponential backoff without jitter makes the most calls and takes longest", async () => {
  const none = await mean("exponential");
  // In lockstep every round lets exactly one client through: 100 + 99 + ... + 1 calls.
  assert.equal(none.calls, 5_050);
  assert.ok(none.completionMs > 180_000, `no jitter took ${none.completionMs} ms`);
  for (const type of ["fullJitter", "equalJitter", "decorrelatedJitter"]) {
    const jittered = await mean(type);
    assert.ok(jittered.calls < none.calls / 5, `${type}: ${jittered.calls} calls`);
    assert.ok(
      jittered.completionMs < none.completionMs / 50,
      `${type}: ${jittered.completionMs} ms`,
    );
  }
});

Deno.test("herd: full jitter ends sooner than equal jitter with about as many calls", async () => {
  const full = await mean("fullJitter");
  const equal = await mean("equalJitter");
  assert.ok(
    full.completionMs < equal.completionMs,
    `${full.completionMs} vs ${equal.completionMs}`,
  );
  assert.ok(
    Math.abs(full.calls - equal.calls) < 0.05 * equal.calls,
    `${full.calls} vs ${equal.calls}`,
  );
});

Deno.test("herd: same seed, same herd", async () => {
  assert.deepEqual(await herd("fullJitter", 3), await herd("fullJitter", 3));
  assert.notDeepEqual(await herd("fullJitter", 3), await herd("fullJitter", 4));
});
