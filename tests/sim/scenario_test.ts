import assert from "node:assert/strict";
import { Ajv2020 } from "ajv/dist/2020.js";
import {
  buildScenario,
  runScenario,
  ScenarioError,
  scenarioJsonSchema,
} from "@bulwark/bulwark/sim";

const VALID = {
  seed: 5,
  durationMs: 2_000,
  servers: {
    db: {
      latency: {
        kind: "mixture",
        parts: [
          { weight: 3, dist: { kind: "uniform", minMs: 1, maxMs: 5 } },
          { weight: 1, dist: { kind: "lognormal", medianMs: 20, p99Ms: 100 } },
        ],
      },
      concurrency: 4,
      queue: 10,
    },
  },
  pools: {
    pool: { target: "db", maxConnections: 4, connectionLatency: { kind: "constant", ms: 2 } },
  },
  clients: {
    web: {
      target: "pool",
      timeoutMs: 200,
      policy: { retry: { maxAttempts: 2, backoff: { type: "constant", ms: 5 } } },
    },
  },
  loads: [{ kind: "poisson", client: "web", ratePerSecond: 50 }],
  changes: [{ server: "db", atMs: 1_000, errorRate: 0.5 }],
};

/** The issues' paths of a scenario that must be rejected. */
function paths(scenario: unknown): string[] {
  try {
    buildScenario(scenario);
  } catch (error) {
    assert.ok(error instanceof ScenarioError, String(error));
    return error.issues.map((i) => i.path);
  }
  assert.fail("accepted");
}

const with_ = (patch: (s: typeof VALID & Record<string, unknown>) => void) => {
  const s = structuredClone(VALID) as typeof VALID & Record<string, unknown>;
  patch(s);
  return s;
};

const INVALID: [string, unknown, string[]][] = [
  ["unknown latency kind", with_((s) => (s.servers.db.latency = { kind: "gamma" } as never)), [
    "servers.db.latency.kind",
  ]],
  ["negative rate", with_((s) => (s.loads[0].ratePerSecond = -1)), ["loads[0].ratePerSecond"]],
  ["unknown target", with_((s) => (s.clients.web.target = "cache")), ["clients.web.target"]],
  ["concurrency 0", with_((s) => (s.servers.db.concurrency = 0)), ["servers.db.concurrency"]],
  ["unknown key", with_((s) => (s.servers.db as Record<string, unknown>).threads = 2), [
    "servers.db.threads",
  ]],
  ["bad contention", with_((s) => Object.assign(s.servers.db, { contention: "mvcc" })), [
    "servers.db.contention",
  ]],
  ["bad conflictStatus", with_((s) => Object.assign(s.servers.db, { conflictStatus: 99 })), [
    "servers.db.conflictStatus",
  ]],
  [
    "bad network latency kind",
    with_((s) => Object.assign(s.servers.db, { networkLatency: { kind: "normal", ms: 10 } })),
    ["servers.db.networkLatency.kind"],
  ],
  ["unknown top-level key", with_((s) => (s.clientz = {})), ["clientz"]],
  ["nested mixture part", with_((s) => (s.servers.db.latency.parts[1].dist.p99Ms = -3)), [
    "servers.db.latency.parts[1].dist.p99Ms",
  ]],
  ["cross-field in a latency", with_((s) => (s.servers.db.latency.parts[1].dist.p99Ms = 10)), [
    "servers.db.latency.parts[1].dist.p99Ms",
  ]],
  ["unknown pool target", with_((s) => (s.pools.pool.target = "nope")), ["pools.pool.target"]],
  ["load for an unknown client", with_((s) => (s.loads[0].client = "api")), ["loads[0].client"]],
  ["change of an unknown server", with_((s) => (s.changes[0].server = "api")), [
    "changes[0].server",
  ]],
  ["bad policy", with_((s) => (s.clients.web.policy.retry.maxAttempts = 0)), [
    "clients.web.policy.retry.maxAttempts",
  ]],
  ["toMs before fromMs", with_((s) => Object.assign(s.loads[0], { fromMs: 500, toMs: 100 })), [
    "loads[0].toMs",
  ]],
  ["missing fields", { servers: {}, clients: {} }, ["durationMs", "loads"]],
  [
    "several at once",
    with_((s) => {
      s.servers.db.concurrency = 0;
      s.loads[0].ratePerSecond = 0;
    }),
    ["servers.db.concurrency", "loads[0].ratePerSecond"],
  ],
];

for (const [what, scenario, expected] of INVALID) {
  Deno.test(`a bad scenario is rejected with its JSON path: ${what}`, () => {
    assert.deepEqual(paths(scenario), expected);
  });
}

Deno.test("scenario error messages start with the JSON path and name the value", () => {
  assert.throws(
    () => buildScenario(with_((s) => (s.loads[0].ratePerSecond = -1))),
    (e: ScenarioError) =>
      e.message ===
        "invalid scenario (1 problem):\n  - loads[0].ratePerSecond must be a number > 0 and <= 100000: received -1",
  );
  assert.throws(
    () => buildScenario(with_((s) => (s.clients.web.target = "cache"))),
    /clients\.web\.target must name a server or a pool: received "cache"/,
  );
  assert.throws(
    () => buildScenario(with_((s) => (s.clients.web.policy.retry.maxAttempts = 0))),
    /clients\.web\.policy\.retry\.maxAttempts must be an integer >= 1: received 0/,
  );
  assert.throws(
    () => buildScenario(with_((s) => Object.assign(s.servers.db, { contention: "mvcc" }))),
    /servers\.db\.contention must be "none" or "occ": received "mvcc"/,
  );
  assert.throws(
    () =>
      buildScenario(
        with_((s) =>
          Object.assign(s.servers.db, { networkLatency: { kind: "uniform", minMs: 5 } })
        ),
      ),
    /servers\.db\.networkLatency\.maxMs/,
  );
  assert.throws(() => buildScenario("{ nope"), /scenario is not valid JSON/);
  assert.throws(() => buildScenario([]), /scenario must be an object: received an array/);
});

Deno.test("a valid scenario runs, from an object or from JSON text", async () => {
  const a = await runScenario(VALID);
  const b = await runScenario(JSON.stringify(VALID));
  assert.equal(JSON.stringify(a), JSON.stringify(b));
  assert.equal(a.seed, 5);
  assert.ok(a.clients.web.stats.requests > 80);
  assert.ok(a.servers.db.errors > 0); // the change at 1 s
  assert.equal(a.pools.pool.acquisitions, a.pools.pool.releases);
  const short = await runScenario(VALID, { durationMs: 500 });
  assert.equal(short.durationMs, 500);
  assert.equal(short.servers.db.errors, 0); // the change at 1 s never came
});

Deno.test("the shipped scenario JSON Schema is the generated one", async () => {
  const shipped = JSON.parse(
    await Deno.readTextFile(new URL("../../schema/scenario.schema.json", import.meta.url)),
  );
  assert.deepEqual(shipped, scenarioJsonSchema(), "run `deno task schema` to regenerate it");
});

Deno.test("the scenario JSON Schema agrees with buildScenario", async () => {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  const validate = ajv.compile(scenarioJsonSchema());
  assert.equal(validate(VALID), true, JSON.stringify(validate.errors));
  for (const file of ["retry_storm.json", "jitter_herd.json", "deadline_propagation.json"]) {
    const json = JSON.parse(
      await Deno.readTextFile(new URL(`../../examples/scenarios/${file}`, import.meta.url)),
    );
    assert.equal(validate(json), true, `${file}: ${JSON.stringify(validate.errors)}`);
  }
  for (const [what, scenario] of INVALID) {
    // References between entries and rules across fields are beyond JSON Schema.
    if (/unknown|cross-field|toMs|change|load for/.test(what) && !/key|kind/.test(what)) continue;
    assert.equal(validate(scenario), false, what);
  }
});

Deno.test("a shortened durationMs: a later change applies while calls drain, and does not keep the run going", async () => {
  const scenario = {
    durationMs: 10_000,
    servers: { db: { latency: { kind: "constant" as const, ms: 1_000 } } },
    clients: { web: { target: "db", policy: { retry: { maxAttempts: 1 } } } },
    loads: [{ kind: "burst" as const, client: "web", count: 1, atMs: 900 }],
    changes: [
      { server: "db", atMs: 1_500, errorRate: 1 },
      { server: "db", atMs: 5_000, latencyFactor: 2 },
    ],
  };
  const report = await runScenario(scenario, { durationMs: 1_000 });
  // The call reaches the server at 900 ms; its answer at 1,900 ms is an error (change at 1,500).
  assert.equal(report.endMs, 2_000); // the run checks for the end once a second
  assert.equal(report.servers.db.errors, 1);
  assert.equal(report.clients.web.stats.failed, 1);
});

Deno.test("upper bounds: a day of load, a day of drain, 100,000 calls/s, bursts of 1,000,000, with the JSON path", () => {
  const scenario = {
    durationMs: 1e12,
    drainMs: 86_400_001,
    servers: { db: { latency: { kind: "constant", ms: 1 } } },
    clients: { web: { target: "db" } },
    loads: [
      { kind: "burst", client: "web", count: 1_000_001 },
      { kind: "poisson", client: "web", ratePerSecond: 1e6 },
      { kind: "constant", client: "web", ratePerSecond: 100_001 },
      { kind: "burst", client: "web", count: 1_000_000 },
      { kind: "constant", client: "web", ratePerSecond: 100_000 },
    ],
  };
  let error: unknown;
  try {
    buildScenario(scenario);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ScenarioError);
  assert.deepEqual(error.issues.map((i) => `${i.path}: ${i.message}`), [
    "durationMs: durationMs must be a number > 0 and <= 86400000: received 1000000000000",
    "drainMs: drainMs must be a number between 0 and 86400000: received 86400001",
    "loads[0].count: loads[0].count must be an integer between 1 and 1000000: received 1000001",
    "loads[1].ratePerSecond: loads[1].ratePerSecond must be a number > 0 and <= 100000: received 1000000",
    "loads[2].ratePerSecond: loads[2].ratePerSecond must be a number > 0 and <= 100000: received 100001",
  ]);
  // At the limits: accepted.
  buildScenario({
    ...scenario,
    durationMs: 86_400_000,
    drainMs: 86_400_000,
    loads: scenario.loads.slice(3),
  });
});
