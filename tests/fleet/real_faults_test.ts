// Regression tests of the issue 13 review against real parts: a redis-server frozen with SIGSTOP,
// Redis down at startup, dead instances on Redis and a KV file, processes that must exit or
// survive a store's garbage.
import assert from "node:assert/strict";
import { CircuitBreaker, systemClock } from "../../mod.ts";
import type { FleetSyncFailedEvent, ResilienceEvent } from "../../src/core/events.ts";
import { type FleetStateStore, kvStateStore, redisStateStore } from "../../fleet.ts";
import { freePort, redisCli, startRedis } from "./_redis.ts";
import { until, untilAsync } from "./_helpers.ts";

/** Test code resolves through the development config (and its lockfile), as `deno test` does. */
const DEV_CONFIG = new URL("../../dev/deno.json", import.meta.url).pathname;
const WORKER = new URL("./_exit_worker.ts", import.meta.url).pathname;

const failures = (events: ResilienceEvent[]) =>
  events.filter((e): e is FleetSyncFailedEvent => e.type === "fleet_sync_failed");

Deno.test("redis frozen (SIGSTOP): failed syncs, local probes after a lease; SIGCONT: synced again; frozen for good: close() settles", async () => {
  const redis = await startRedis();
  const store = await redisStateStore({ url: redis.url, timeoutMs: 300 });
  const other = await redisStateStore({ url: redis.url });
  const events: ResilienceEvent[] = [];
  const make = (id: string, s: FleetStateStore, onEvent?: (e: ResilienceEvent) => void) =>
    new CircuitBreaker({
      name: "dep",
      kind: "consecutive",
      threshold: 1,
      breakMs: 200,
      fleet: { store: s, syncIntervalMs: 50, leaseMs: 300, instanceId: id },
      onEvent,
    });
  const breaker = make("a", store, (e) => events.push(e));
  const peer = make("b", other);
  let frozen = false;
  try {
    // The store works before the freeze: a sync goes through without a failure. (On a loaded
    // machine an early background sync may time out at 300 ms: wait for a clean one.)
    await untilAsync(async () => {
      const before = failures(events).length;
      await breaker.fleet.sync();
      return failures(events).length === before;
    });
    Deno.kill(redis.pid, "SIGSTOP");
    frozen = true;
    const t0 = Date.now();
    breaker.recordFailure(); // opens; its transition goes to a frozen server
    let probedAt = NaN;
    await until(() => {
      if (breaker.allowCall()) {
        probedAt = Date.now();
        breaker.recordSuccess();
        return true;
      }
      return false;
    }, 5_000);
    const failed = failures(events);
    assert.ok(failed.some((e) => e.operation === "transition"), "the transition timed out");
    assert.ok(failed.some((e) => e.operation === "sync"), "syncs timed out");
    // Failing from the first timeout (50 ms) for a lease (300 ms), then a local probe.
    assert.ok(probedAt - t0 >= 300, `probed ${probedAt - t0} ms after the freeze`);
    assert.equal(breaker.state, "closed");
    breaker.recordFailure(); // opens again while frozen: the store misses it
    Deno.kill(redis.pid, "SIGCONT");
    frozen = false;
    // Back: the missed opening is written and the other instance adopts it.
    await until(() => peer.state === "open", 5_000);
    const before = failures(events).length;
    await breaker.fleet.sync();
    assert.equal(failures(events).length, before, "a sync succeeds again");
    Deno.kill(redis.pid, "SIGSTOP"); // frozen for good
    frozen = true;
    const t1 = Date.now();
    await breaker.fleet.sync(); // settles: the report timed out
    assert.ok(failures(events).length > before);
    await breaker.fleet.close();
    assert.ok(Date.now() - t1 < 2_000, `sync + close took ${Date.now() - t1} ms`);
  } finally {
    if (frozen) Deno.kill(redis.pid, "SIGCONT");
    await breaker.fleet.close();
    await peer.fleet.close();
    await store.close();
    await other.close();
    await redis.stop();
  }
});

Deno.test("redis down at startup: redisStateStore({ url }) resolves at once, syncs fail, then work once it is up", async () => {
  const port = freePort();
  const t0 = Date.now();
  const store = await redisStateStore({ url: `redis://127.0.0.1:${port}`, timeoutMs: 500 });
  assert.ok(Date.now() - t0 < 500, `resolved after ${Date.now() - t0} ms`);
  const events: ResilienceEvent[] = [];
  const breaker = new CircuitBreaker({
    name: "boot",
    kind: "consecutive",
    threshold: 3,
    fleet: { store, syncIntervalMs: 50 },
    onEvent: (e) => events.push(e),
  });
  let redis: Awaited<ReturnType<typeof startRedis>> | undefined;
  try {
    await breaker.fleet.sync();
    assert.ok(failures(events).length >= 1, "a sync fails while Redis is down");
    assert.equal(await breaker.execute(() => 1), 1, "calls go on");
    redis = await startRedis(port);
    // The client reconnects in the background; then a sync writes this instance's report.
    let fields = "";
    for (let i = 0; i < 100 && fields !== "1"; i++) {
      await breaker.fleet.sync();
      fields = (await redisCli(port, "HLEN", "bulwark:circuit:boot:reports")).trim();
      if (fields !== "1") await systemClock.sleep(50);
    }
    assert.equal(fields, "1");
  } finally {
    await breaker.fleet.close();
    await store.close(); // stops the reconnect timer (the sanitizers check)
    await redis?.stop();
  }
});

Deno.test("redis down: a store closed while its client is reconnecting leaves no timer or socket behind", async () => {
  const store = await redisStateStore({ url: `redis://127.0.0.1:${freePort()}`, timeoutMs: 200 });
  await systemClock.sleep(100); // a reconnect attempt or two
  await store.close(); // the sanitizers check that nothing is left
});

const COUNT = {
  name: "api",
  kind: "count",
  size: 20,
  minCalls: 10,
  threshold: 0.5,
  breakMs: 60_000,
} as const;

Deno.test("redis: dead instances' reports are removed from the hash; a new instance ignores them", async () => {
  const redis = await startRedis();
  const store = await redisStateStore({ url: redis.url });
  const SYNC = 50;
  try {
    // 30 short-lived instances (isolates coming and going), the first with 9 failures, then gone.
    // Their interval is long, so that their own writes do not remove each other's reports
    // however long making 30 of them takes; live's short one removes them.
    for (let n = 0; n < 30; n++) {
      const b = new CircuitBreaker({
        ...COUNT,
        fleet: { store, syncIntervalMs: 60_000, instanceId: `dead-${n}` },
      });
      if (n === 0) { for (let i = 0; i < 9; i++) b.recordFailure(); }
      await b.fleet.sync();
      await b.fleet.close();
    }
    assert.equal((await redisCli(redis.port, "HLEN", "bulwark:circuit:api:reports")).trim(), "30");
    const live = new CircuitBreaker({
      ...COUNT,
      fleet: { store, syncIntervalMs: SYNC, instanceId: "live" },
    });
    // Within 10 intervals (later on a loaded machine) live's writes remove the dead ones.
    await systemClock.sleep(10 * SYNC);
    await untilAsync(async () =>
      (await redisCli(redis.port, "HKEYS", "bulwark:circuit:api:reports")).trim() === "live"
    );
    const fresh = new CircuitBreaker({
      ...COUNT,
      fleet: { store, syncIntervalMs: SYNC, instanceId: "fresh" },
    });
    await fresh.fleet.sync();
    fresh.recordFailure();
    assert.equal(fresh.state, "closed", "dead-0's 9 failures are not counted");
    await Promise.all([live.fleet.close(), fresh.fleet.close()]);
  } finally {
    await store.close();
    await redis.stop();
  }
});

Deno.test("kv file: a new instance ignores a dead instance's report 10 intervals later; it is deleted", async () => {
  const dir = await Deno.makeTempDir();
  const store = await kvStateStore({ path: `${dir}/s.db` });
  try {
    const dead = new CircuitBreaker({
      ...COUNT,
      fleet: { store, syncIntervalMs: 50, instanceId: "dead" },
    });
    for (let i = 0; i < 9; i++) dead.recordFailure();
    await dead.fleet.sync();
    await dead.fleet.close();
    await systemClock.sleep(500); // 10 intervals; expireIn was 4 intervals (a lower bound only)
    const fresh = new CircuitBreaker({
      ...COUNT,
      fleet: { store, syncIntervalMs: 50, instanceId: "fresh" },
    });
    await fresh.fleet.sync();
    fresh.recordFailure();
    assert.equal(fresh.state, "closed");
    await fresh.fleet.close();
    const rows: string[] = [];
    for await (const e of store.kv.list({ prefix: ["bulwark"] })) rows.push(e.key.join("/"));
    assert.deepEqual(rows, ["bulwark/circuit:api/report/fresh"]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** Runs the exit worker; resolves with its exit code and output, or "killed" after 10 s. */
async function runWorker(
  mode: string,
  where = "",
): Promise<{ code: number | string; out: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", DEV_CONFIG, "--unstable-kv", WORKER, mode, where],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, 10_000);
  const result = await child.output();
  clearTimeout(timer);
  const out = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  return { code: killed ? "killed" : result.code, out: out.trim() };
}

Deno.test("a process with a KV-file fleet policy exits without fleet.close(); with Redis, after store.close()", async () => {
  const dir = await Deno.makeTempDir();
  const redis = await startRedis();
  try {
    // 5 good calls, 2 failed ones open the circuit; the last call gets a probe or waits for a lease.
    for (const [mode, where] of [["kv", `${dir}/exit.db`], ["redis", redis.url]]) {
      const { code, out } = await runWorker(mode, where);
      assert.equal(code, 0, `${mode}: ${out}`);
      assert.match(out, /^done [56]$/);
    }
  } finally {
    await redis.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

for (const mode of ["garbage-report", "garbage-transition"]) {
  Deno.test(`a store answering garbage (${mode}): the process survives its background syncs`, async () => {
    const { code, out } = await runWorker(mode);
    assert.equal(code, 0, out);
    assert.match(out, /^done [56]$/, "no uncaught rejection");
  });
}
