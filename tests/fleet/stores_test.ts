// The real stores: a Deno KV file and a redis-server started by the test.
// Write bound (must-show 4) and faults (must-show 5).
import assert from "node:assert/strict";
import { CircuitBreaker, policy, type ResilienceEvent, systemClock } from "../../mod.ts";
import { type FleetStateStore, kvStateStore, redisStateStore } from "../../fleet.ts";
import { countingKv, until } from "./_helpers.ts";
import { redisCli, startRedis } from "./_redis.ts";

const SYNC_MS = 40;

/** 20,000 calls through a policy with three fleet parts; returns the sync intervals elapsed. */
async function twentyThousandCalls(store: FleetStateStore): Promise<number> {
  const p = policy("bulk", {
    telemetry: false,
    circuit: { kind: "count", size: 100, threshold: 0.5 },
    failureBudget: { threshold: 0.5, windowMs: 10_000, minSamples: 100 },
    retry: { maxAttempts: 1, retryBudget: { ratio: 0.1 } },
    fleet: { store, syncIntervalMs: SYNC_MS },
  });
  const start = systemClock.now();
  for (let batch = 0; batch < 5; batch++) {
    for (let i = 0; i < 4_000; i++) await p.execute(() => i);
    await systemClock.sleep(SYNC_MS);
  }
  await p.fleet.close();
  return Math.floor((systemClock.now() - start) / SYNC_MS);
}

Deno.test("write bound on a KV file: writes <= parts x (intervals + 1) at 20,000 calls", async () => {
  const dir = await Deno.makeTempDir();
  const raw = await Deno.openKv(`${dir}/state.db`);
  const counted = countingKv(raw);
  const store = await kvStateStore({ kv: counted.kv });
  try {
    const intervals = await twentyThousandCalls(store);
    console.log(`kv: ${counted.writes} writes for 20,000 calls over ${intervals} intervals`);
    assert.ok(counted.writes >= 3, "every part wrote");
    assert.ok(counted.writes <= 3 * (intervals + 1), `${counted.writes} writes`);
  } finally {
    await store.close();
    raw.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("write bound on Redis (INFO commandstats): HSETs <= parts x (intervals + 1)", async () => {
  const redis = await startRedis();
  const store = await redisStateStore({ url: redis.url });
  try {
    const intervals = await twentyThousandCalls(store);
    const stats = await redisCli(redis.port, "INFO", "commandstats");
    const hset = Number(/cmdstat_hset:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    const evals = Number(/cmdstat_eval:calls=(\d+)/.exec(stats)?.[1] ?? 0);
    console.log(`redis: ${hset} HSET + ${evals} EVAL for 20,000 calls over ${intervals} intervals`);
    assert.ok(hset >= 3);
    assert.ok(hset + evals <= 3 * (intervals + 1), stats);
  } finally {
    await store.close();
    await redis.stop();
  }
});

function breakers(storeA: FleetStateStore, storeB: FleetStateStore, events: ResilienceEvent[]) {
  const opts = { name: "dep", kind: "consecutive", threshold: 3, breakMs: 60_000 } as const;
  const a = new CircuitBreaker({
    ...opts,
    fleet: { store: storeA, syncIntervalMs: SYNC_MS, instanceId: "a" },
    onEvent: (e) => events.push(e),
  });
  const b = new CircuitBreaker({
    ...opts,
    fleet: { store: storeB, syncIntervalMs: SYNC_MS, instanceId: "b" },
  });
  return { a, b };
}

Deno.test("a KV that throws on commit: no call rejects because of it; state resumes when it works again", async () => {
  const dir = await Deno.makeTempDir();
  const raw = await Deno.openKv(`${dir}/state.db`);
  const counted = countingKv(raw);
  const storeA = await kvStateStore({ kv: counted.kv });
  const storeB = await kvStateStore({ path: `${dir}/state.db` });
  const events: ResilienceEvent[] = [];
  const { a, b } = breakers(storeA, storeB, events);
  try {
    counted.failing = true;
    for (let i = 0; i < 100; i++) assert.equal(await a.execute(() => i), i);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(a.execute(() => Promise.reject(new Error("x"))), /x/);
    }
    assert.equal(a.state, "open");
    await until(() => events.some((e) => e.type === "fleet_sync_failed" && e.operation === "sync"));
    assert.ok(events.some((e) => e.type === "fleet_sync_failed" && e.operation === "transition"));
    assert.equal(b.state, "closed", "b never heard of the opening");
    counted.failing = false;
    await until(() => b.state === "open");
  } finally {
    await Promise.all([a.fleet.close(), b.fleet.close()]);
    await Promise.all([storeA.close(), storeB.close()]);
    raw.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("redis-server killed mid-run: calls go on, fleet_sync_failed, state resumes on a new server", async () => {
  let redis = await startRedis();
  const storeA = await redisStateStore({ url: redis.url });
  const storeB = await redisStateStore({ url: redis.url });
  const events: ResilienceEvent[] = [];
  const { a, b } = breakers(storeA, storeB, events);
  try {
    for (let i = 0; i < 50; i++) assert.equal(await a.execute(() => i), i);
    await redis.stop(); // SIGKILL
    let ok = 0;
    for (let i = 0; i < 50; i++) ok += await a.execute(() => 1);
    assert.equal(ok, 50);
    for (let i = 0; i < 3; i++) {
      await assert.rejects(a.execute(() => Promise.reject(new Error("x"))), /x/);
    }
    assert.equal(a.state, "open");
    await until(() => events.some((e) => e.type === "fleet_sync_failed"));
    assert.equal(b.state, "closed");
    redis = await startRedis(redis.port); // an empty server on the same port
    await until(() => b.state === "open", 10_000);
  } finally {
    await Promise.all([a.fleet.close(), b.fleet.close()]);
    await Promise.all([storeA.close(), storeB.close()]);
    await redis.stop();
  }
});

Deno.test("the stores reject bad options, naming them", async () => {
  const rejects = (p: Promise<unknown>, message: string) =>
    assert.rejects(p, (e) => e instanceof TypeError && e.message === message);
  await rejects(kvStateStore({ path: "" }), 'path must be a non-empty string: received ""');
  await rejects(
    kvStateStore({ file: "x" } as never),
    "file is not a known option (expected one of: path, kv, prefix)",
  );
  await rejects(
    kvStateStore({ path: "a.db", kv: {} as Deno.Kv }),
    'kv must be left out when path is given (pass one of them): received "a Deno.Kv"',
  );
  await rejects(
    redisStateStore({}),
    "url must be given, or else client (exactly one of them): received undefined",
  );
  await rejects(
    redisStateStore({ url: "redis://127.0.0.1:1", prefix: "" }),
    'prefix must be a non-empty string: received ""',
  );
  await assert.rejects(
    redisStateStore({ url: "http://127.0.0.1:1" }),
    (e) =>
      e instanceof RangeError &&
      e.message === 'url must be a redis:// or rediss:// URL: received "http://127.0.0.1:1"',
  );
  await rejects(
    redisStateStore({ client: {} as never }),
    "client must be a node-redis client (sendCommand, duplicate, connect, subscribe, unsubscribe, on, destroy): received {}",
  );
  await assert.rejects(
    redisStateStore({ url: "redis://127.0.0.1:1", timeoutMs: 0 }),
    (e) =>
      e instanceof RangeError &&
      e.message === "timeoutMs must be a number between 1 and 2147483647: received 0",
  );
});
