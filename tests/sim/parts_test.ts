import assert from "node:assert/strict";
import { seededRandom } from "@bulwark/bulwark";
import { VirtualClock } from "@bulwark/bulwark/testing";
import { latency, latencyFromJSON, ServerStatusError, Simulation } from "@bulwark/bulwark/sim";

Deno.test("latency.lognormal is fitted to its median and 99th percentile", () => {
  const d = latency.lognormal({ medianMs: 20, p99Ms: 200 });
  const random = seededRandom(9);
  const draws = Array.from({ length: 200_000 }, () => d.sample(random)).sort((a, b) => a - b);
  const at = (q: number) => draws[Math.floor(q * draws.length)];
  assert.ok(Math.abs(at(0.5) - 20) < 0.5, `median ${at(0.5)}`);
  assert.ok(Math.abs(at(0.99) - 200) < 10, `p99 ${at(0.99)}`);
});

Deno.test("latency distributions: exponential mean, uniform range, mixture weights, JSON round trip", () => {
  const random = seededRandom(4);
  const n = 100_000;
  let sum = 0;
  const exp = latency.exponential(10);
  for (let i = 0; i < n; i++) sum += exp.sample(random);
  assert.ok(Math.abs(sum / n - 10) < 0.2, `mean ${sum / n}`);
  const u = latency.uniform(3, 7);
  for (let i = 0; i < 1_000; i++) {
    const v = u.sample(random);
    assert.ok(v >= 3 && v < 7);
  }
  const mix = latency.mixture([
    { weight: 3, dist: latency.constant(1) },
    { weight: 1, dist: latency.constant(2) },
  ]);
  let ones = 0;
  for (let i = 0; i < n; i++) if (mix.sample(random) === 1) ones++;
  assert.ok(Math.abs(ones / n - 0.75) < 0.01, `${ones / n}`);
  const json = mix.toJSON();
  assert.deepEqual(latencyFromJSON(json).toJSON(), json);
});

Deno.test("latency: bad arguments name the option and the value", () => {
  assert.throws(() => latency.constant(-1), {
    name: "RangeError",
    message: "ms must be a number >= 0: received -1",
  });
  assert.throws(() => latency.uniform(5, 2), /maxMs must be a number >= 5: received 2/);
  assert.throws(() => latency.exponential(0), /meanMs must be a number > 0: received 0/);
  assert.throws(
    () => latency.lognormal({ medianMs: 20, p99Ms: 10 }),
    /p99Ms must be a number > 20: received 10/,
  );
  assert.throws(() => latency.mixture([]), /parts must be a non-empty array/);
  assert.throws(
    () => latency.mixture([{ weight: 0, dist: latency.constant(1) }]),
    /parts\[0\]\.weight must be a number > 0: received 0/,
  );
  assert.throws(
    () =>
      latencyFromJSON({
        kind: "mixture",
        parts: [{ weight: 1, dist: { kind: "uniform", minMs: 5, maxMs: 1 } }],
      }),
    /parts\[0\]\.dist\.maxMs must be a number >= 5: received 1/,
  );
});

Deno.test("server: scheduled concurrency and error changes, errorStatus, and the answer's class", async () => {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", { latency: latency.constant(100), concurrency: 1, errorStatus: 409 });
  db.at(1_000, { concurrency: 5 }).at(2_000, { errorRate: 1 }).at(3_000, { errorRate: 0 });
  const web = sim.client("web", { target: db, policy: { retry: { maxAttempts: 1 } } });
  sim.load(web, { kind: "constant", ratePerSecond: 50, toMs: 4_000 });
  const report = await sim.run({ durationMs: 4_000 });
  const served = report.servers.db.timeline.map((r) => r.served);
  assert.equal(served[0], 9); // one worker: at 100, 200, ... 900 ms (the 10th at 1 s)
  // From 1 s five workers: the first one 10 more (1,000 ... 1,900 ms), four new ones 9 each.
  assert.deepEqual(served.slice(1, 4), [46, 50, 50]);
  assert.equal(report.servers.db.errors, 50); // every request served in [2 s, 3 s)
  assert.equal(report.clients.web.stats.failed, 50);
});

Deno.test("server: cancelOnClientTimeout drops queued and in-service requests whose caller gave up", async () => {
  for (const cancel of [false, true]) {
    const sim = new Simulation();
    const db = sim.server("db", {
      latency: latency.constant(100),
      concurrency: 1,
      cancelOnClientTimeout: cancel,
    });
    const web = sim.client("web", {
      target: db,
      timeoutMs: 50,
      policy: { retry: { maxAttempts: 1 } },
    });
    sim.load(web, { kind: "burst", count: 3, atMs: 0 });
    const report = await sim.run({ durationMs: 10 });
    const s = report.servers.db;
    assert.equal(report.clients.web.stats.timeouts, 3);
    if (cancel) {
      assert.deepEqual([s.served, s.dropped], [0, 3]);
      assert.equal(report.endMs, 1_000); // nothing left to do after the timeouts at 50 ms
    } else {
      assert.deepEqual([s.served, s.dropped], [3, 0]);
      assert.equal(report.endMs, 1_000); // served at 100, 200, 300 ms: within the first second
    }
  }
});

Deno.test("a 409 from the server is a concurrency failure the policy retries", async () => {
  const sim = new Simulation();
  const db = sim.server("db", {
    latency: latency.constant(10),
    concurrency: 1,
    queue: 0,
    rejectStatus: 409,
  });
  const classes: string[] = [];
  const web = sim.client("web", {
    target: db,
    policy: {
      retry: { maxAttempts: 5, backoff: () => 10 },
      onEvent: (e) => e.type === "retry" && classes.push(e.errorClass),
    },
  });
  sim.load(web, { kind: "burst", count: 2, atMs: 0 });
  const report = await sim.run({ durationMs: 1 });
  assert.deepEqual(classes, ["concurrency"]);
  assert.equal(report.clients.web.stats.succeeded, 2);
  assert.ok(new ServerStatusError(503) instanceof Error);
});

Deno.test("Simulation: bad options and misuse are rejected with the option's name", async () => {
  assert.throws(
    () => new Simulation({ seed: -1 }),
    /seed must be an integer between 0 and 4294967295: received -1/,
  );
  assert.throws(() => new Simulation({ speed: 1 } as never), /speed is not a known option/);
  const sim = new Simulation();
  const db = sim.server("db", { latency: latency.constant(1) });
  assert.throws(
    () => sim.server("db", { latency: latency.constant(1) }),
    /name must be a name no other server of this simulation has: received "db"/,
  );
  assert.throws(
    () => sim.server("x", { latency: latency.constant(1), concurrency: 0 }),
    /concurrency must be an integer >= 1: received 0/,
  );
  assert.throws(
    () => sim.server("x", { latency: { kind: "constant", ms: 1 } as never }),
    /latency must be a latency distribution/,
  );
  assert.throws(
    () => sim.client("c", { target: db, timeoutMs: 0 }),
    /timeoutMs must be a number > 0: received 0/,
  );
  assert.throws(
    () => sim.client("c", { target: db, policy: { clock: new VirtualClock() } }),
    /policy\.clock must be left out \(the simulation supplies it\): received /,
  );
  assert.throws(
    () => sim.client("c", { target: db, policy: { retry: { maxAttempts: 0 } } }),
    /policy\.retry\.maxAttempts must be an integer >= 1: received 0/,
  );
  const web = sim.client("web", { target: db });
  assert.throws(
    () => sim.load(web, { kind: "poisson", ratePerSecond: -1 }),
    /ratePerSecond must be a number > 0 and <= 100000: received -1/,
  );
  assert.throws(
    () => sim.load(web, { kind: "wave" } as never),
    /kind must be "constant", "poisson" or "burst": received "wave"/,
  );
  assert.throws(
    () => sim.load({} as never, { kind: "burst", count: 1 }),
    /client must be a client of this simulation/,
  );
  assert.throws(() => db.at(-5, { errorRate: 1 }), /atMs must be a number >= 0: received -5/);
  assert.throws(
    () => db.at(5, { errorRate: 2 }),
    /errorRate must be a number between 0 and 1: received 2/,
  );
  assert.throws(
    () => db.at(5, { latencyFactor: 0 }),
    /latencyFactor must be a number > 0: received 0/,
  );
  await assert.rejects(
    sim.run({ durationMs: 0 }),
    /durationMs must be a number > 0 and <= 86400000: received 0/,
  );
  await sim.run({ durationMs: 10 });
  await assert.rejects(sim.run({ durationMs: 10 }), /a Simulation runs once/);
});

Deno.test("a server, pool or client of another simulation is rejected with a TypeError", () => {
  const other = new Simulation({ seed: 1 });
  const db = other.server("db", { latency: latency.constant(5) });
  const pool = other.pool("p", { target: db });
  const web = other.client("web", { target: db });
  const sim = new Simulation({ seed: 1 });
  sim.server("db", { latency: latency.constant(5) });
  assert.throws(() => sim.client("c", { target: db }), {
    name: "TypeError",
    message:
      'target must be a server or pool of this simulation: received server "db" of another Simulation',
  });
  assert.throws(() => sim.client("c", { target: pool }), {
    name: "TypeError",
    message:
      'target must be a server or pool of this simulation: received pool "p" of another Simulation',
  });
  assert.throws(() => sim.pool("q", { target: db }), {
    name: "TypeError",
    message:
      'target must be a server of this simulation: received server "db" of another Simulation',
  });
  assert.throws(() => sim.load(web, { kind: "burst", count: 1 }), {
    name: "TypeError",
    message:
      'client must be a client of this simulation: received client "web" of another Simulation',
  });
});

Deno.test("upper bounds in code: run durationMs and drainMs at most a day, rates and bursts bounded", async () => {
  const sim = new Simulation({ seed: 1 });
  const db = sim.server("db", { latency: latency.constant(1) });
  const web = sim.client("web", { target: db });
  assert.throws(() => sim.load(web, { kind: "burst", count: 1e6 + 1 }), {
    name: "RangeError",
    message: "count must be an integer between 1 and 1000000: received 1000001",
  });
  assert.throws(() => sim.load(web, { kind: "constant", ratePerSecond: 1e9 }), {
    name: "RangeError",
    message: "ratePerSecond must be a number > 0 and <= 100000: received 1000000000",
  });
  await assert.rejects(() => sim.run({ durationMs: 1e12 }), {
    name: "RangeError",
    message: "durationMs must be a number > 0 and <= 86400000: received 1000000000000",
  });
  await assert.rejects(() => sim.run({ durationMs: 1_000, drainMs: 1e12 }), {
    name: "RangeError",
    message: "drainMs must be a number between 0 and 86400000: received 1000000000000",
  });
});
