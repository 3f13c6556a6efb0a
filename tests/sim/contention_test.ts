import assert from "node:assert/strict";
import { latency, type SimServer, Simulation } from "@bulwark/bulwark/sim";

/** Sends one request to `server` at each of `atMs`; returns [sent at, answered at, status]. */
async function requests(
  options: Parameters<Simulation["server"]>[1],
  atMs: number[],
): Promise<{ answers: [number, number, number][]; db: SimServer }> {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", options);
  const answers: [number, number, number][] = [];
  for (const at of atMs) {
    sim.clock.setTimer(() => {
      db.receive((status) => answers.push([at, sim.clock.now(), status]), undefined);
    }, at);
  }
  await sim.run({ durationMs: 1 });
  return { answers, db };
}

Deno.test("contention occ: a write fails with 409 when another write succeeded since its read", async () => {
  // 10 ms between read (start of service) and write (end of service).
  const { answers, db } = await requests(
    { latency: latency.constant(10), concurrency: 10, contention: "occ" },
    [0, 0, 5, 11, 25],
  );
  assert.deepEqual(answers, [
    [0, 10, 200], // first write of version 0 wins
    [0, 10, 409], // read version 0 too: lost
    [5, 15, 409], // read at 5, the write at 10 came in between
    [11, 21, 200], // read after that write
    [25, 35, 200], // alone
  ]);
  assert.deepEqual([db.stats().served, db.stats().conflicts, db.stats().errors], [5, 2, 0]);
});

Deno.test("contention occ: conflictStatus, and an injected error writes nothing", async () => {
  const { answers } = await requests(
    { latency: latency.constant(10), concurrency: 2, contention: "occ", conflictStatus: 412 },
    [0, 0],
  );
  assert.deepEqual(answers, [[0, 10, 200], [0, 10, 412]]);
  const failing = await requests(
    { latency: latency.constant(10), concurrency: 2, contention: "occ", errorRate: 1 },
    [0, 5],
  );
  assert.deepEqual(failing.answers, [[0, 10, 503], [5, 15, 503]]);
  assert.equal(failing.db.stats().conflicts, 0);
});

Deno.test("contention none (default): overlapping requests do not interact", async () => {
  const { answers, db } = await requests(
    { latency: latency.constant(10), concurrency: 2 },
    [0, 5],
  );
  assert.deepEqual(answers, [[0, 10, 200], [5, 15, 200]]);
  assert.equal(db.stats().conflicts, 0);
});

Deno.test("networkLatency delays the request on its way in and the answer on its way back", async () => {
  const { answers, db } = await requests(
    { latency: latency.constant(10), networkLatency: latency.constant(3), queue: 0 },
    [0, 2, 20],
  );
  assert.deepEqual(answers, [
    [2, 8, 503], // arrives at 5 while the only worker is busy: turned away, back at 8
    [0, 16, 200], // arrives at 3, served until 13, back at 16
    [20, 36, 200],
  ]);
  const stats = db.stats();
  assert.deepEqual([stats.received, stats.served, stats.rejected], [3, 2, 1]);
  assert.equal(db.inTransit, 0);
});

Deno.test("the run drains requests and answers still on the network", async () => {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", {
    latency: latency.constant(10),
    networkLatency: latency.constant(400),
  });
  const web = sim.client("web", { target: db });
  sim.load(web, { kind: "burst", count: 3, atMs: 900 });
  const report = await sim.run({ durationMs: 1_000 });
  assert.equal(report.drained, true);
  assert.equal(report.clients.web.stats.succeeded, 3);
  assert.equal(web.responseTimePercentile(1), 830);
  assert.equal(db.inTransit, 0);
});

Deno.test("contention and networkLatency: bad values name the option and the value", () => {
  const sim = new Simulation();
  const base = { latency: latency.constant(1) };
  assert.throws(() => sim.server("a", { ...base, contention: "mvcc" as "occ" }), {
    name: "TypeError",
    message: 'contention must be "none" or "occ": received "mvcc"',
  });
  assert.throws(() => sim.server("b", { ...base, conflictStatus: 600 }), {
    name: "RangeError",
    message: "conflictStatus must be an integer between 100 and 599: received 600",
  });
  assert.throws(() => sim.server("c", { ...base, networkLatency: 5 as never }), {
    name: "TypeError",
    message: "networkLatency must be a latency distribution (see latency.*): received 5",
  });
});
