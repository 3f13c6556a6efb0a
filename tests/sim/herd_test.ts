import assert from "node:assert/strict";
import { latency, type ServerOptions, Simulation } from "@bulwark/bulwark/sim";

/**
 * The herd of the AWS Architecture Blog's "Exponential Backoff And Jitter"
 * (Marc Brooker, 2015): 100 clients contend for one server; each retries
 * until it succeeds (base 5 ms, cap 2 s). Two ways to contend:
 *
 * - `"occ"`, the blog's model (its simulator,
 *   github.com/aws-samples/aws-arch-backoff-simulator): every client updates
 *   one shared record under optimistic concurrency control; a write fails
 *   (409) if another write succeeded since its read. Each network hop takes
 *   |N(10 ms, 2 ms)| there; here 7–13 ms each way, and 15–25 ms between the
 *   read and the write (the read's answer plus the write's request).
 * - `"first"`: a server that takes one request at a time (5 ms) and answers
 *   409 to the others at once (first in is served).
 */
type Model = "occ" | "first";

const SERVERS: Record<Model, ServerOptions> = {
  occ: {
    latency: latency.uniform(15, 25),
    networkLatency: latency.uniform(7, 13),
    concurrency: 100,
    contention: "occ",
  },
  first: { latency: latency.constant(5), concurrency: 1, queue: 0, rejectStatus: 409 },
};

const TYPES = ["exponential", "fullJitter", "equalJitter", "decorrelatedJitter"] as const;

async function herd(
  model: Model,
  type: string,
  seed: number,
): Promise<{ calls: number; completionMs: number }> {
  const sim = new Simulation({ seed });
  const db = sim.server("db", SERVERS[model]);
  const web = sim.client("web", {
    target: db,
    policy: { retry: { maxAttempts: 100_000, backoff: { type, baseMs: 5, maxMs: 2_000 } } },
  });
  sim.load(web, { kind: "burst", count: 100, atMs: 0 });
  const report = await sim.run({ durationMs: 1 });
  const calls = report.clients.web.stats.requestsSent;
  const server = report.servers.db;
  assert.equal(report.clients.web.stats.succeeded, 100);
  if (model === "occ") {
    // Every call reaches the server and is served; all but the 100 winning writes conflict.
    assert.deepEqual([server.received, server.served, server.conflicts], [
      calls,
      calls,
      calls - 100,
    ]);
    assert.equal(server.rejected, 0);
  } else {
    assert.equal(server.rejected, calls - 100);
    assert.equal(server.conflicts, 0);
  }
  return { calls, completionMs: web.responseTimePercentile(1) };
}

/** Mean calls and completion time over seeds 1 to 10. */
async function mean(model: Model, type: string): Promise<{ calls: number; completionMs: number }> {
  let calls = 0;
  let completionMs = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const r = await herd(model, type, seed);
    calls += r.calls;
    completionMs += r.completionMs;
  }
  return { calls: calls / 10, completionMs: completionMs / 10 };
}

Deno.test("herd, the blog's OCC model: no jitter makes the most calls and takes longest, full jitter makes the fewest calls", async () => {
  const rows: Record<string, [number, number]> = {};
  for (const type of TYPES) {
    const r = await mean("occ", type);
    rows[type] = [r.calls, Math.round(r.completionMs)];
  }
  assert.deepEqual(rows, {
    exponential: [1_935.2, 64_582],
    fullJitter: [881.1, 4_559],
    equalJitter: [896.4, 6_716],
    decorrelatedJitter: [1_015.1, 4_402],
  });
  const calls = TYPES.map((t) => rows[t][0]);
  const times = TYPES.map((t) => rows[t][1]);
  assert.equal(Math.max(...calls), rows.exponential[0]);
  assert.equal(Math.max(...times), rows.exponential[1]);
  assert.equal(Math.min(...calls), rows.fullJitter[0]);
});

Deno.test("herd, first in served: no jitter makes the most calls and takes longest", async () => {
  const none = await mean("first", "exponential");
  // In lockstep every round lets exactly one client through: 100 + 99 + ... + 1 calls.
  assert.equal(none.calls, 5_050);
  assert.ok(none.completionMs > 180_000, `no jitter took ${none.completionMs} ms`);
  for (const type of ["fullJitter", "equalJitter", "decorrelatedJitter"]) {
    const jittered = await mean("first", type);
    assert.ok(jittered.calls < none.calls / 5, `${type}: ${jittered.calls} calls`);
    assert.ok(
      jittered.completionMs < none.completionMs / 50,
      `${type}: ${jittered.completionMs} ms`,
    );
  }
});

Deno.test("herd, first in served: full jitter ends sooner than equal jitter with about as many calls", async () => {
  const full = await mean("first", "fullJitter");
  const equal = await mean("first", "equalJitter");
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
  for (const model of ["occ", "first"] as const) {
    assert.deepEqual(await herd(model, "fullJitter", 3), await herd(model, "fullJitter", 3));
    assert.notDeepEqual(await herd(model, "fullJitter", 3), await herd(model, "fullJitter", 4));
  }
});
