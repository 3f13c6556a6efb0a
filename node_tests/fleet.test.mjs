// @bulwark/bulwark/fleet on Node: two policies (two "instances") share a circuit breaker and a
// failure budget through a KV file opened with npm @deno/kv, and through a real redis-server
// started by the test on a free 127.0.0.1 port (--save "" --appendonly no), stopped after.
// Virtual time with a sync interval longer than any test step: the syncs run when the test calls
// fleet.sync(), so the figures do not depend on machine speed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openKv } from "@deno/kv";
import { createClient } from "redis";
import { CircuitOpenError, policy, RetryExhaustedError } from "@bulwark/bulwark";
import { kvStateStore, redisStateStore } from "@bulwark/bulwark/fleet";
import { VirtualClock } from "@bulwark/bulwark/testing";

const SYNC_MS = 60_000; // never reached by the virtual clock in these tests

/** A free loopback port (bound, then released). */
async function freePort() {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Resolves once 127.0.0.1:port accepts a connection (at most 200 tries, 10 ms apart). */
async function accepting(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`nothing accepts connections on 127.0.0.1:${port}`);
}

/** Starts redis-server on a free port; `stop()` SIGKILLs it and waits for its exit. */
async function startRedis() {
  const port = await freePort();
  const child = spawn("redis-server", [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
  ], { stdio: "ignore" });
  const exited = once(child, "exit");
  const stop = async () => {
    child.kill("SIGKILL");
    await exited;
  };
  try {
    await accepting(port);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: `redis://127.0.0.1:${port}`, stop };
}

/**
 * The two stores of one kind, as two processes would have them (two KV handles on one file,
 * two Redis connections), `reports(key)`: the instance ids whose reports the store holds for
 * part `key`, `state(key)`: the stored circuit record, parsed from the raw value (JSON in
 * UTF-8 bytes in KV, so Deno and Node read each other's), and `close()`: closes everything
 * (removes the temp dir, stops the server).
 */
const kinds = {
  async "@deno/kv"() {
    const dir = await mkdtemp(join(tmpdir(), "bulwark-node-fleet-"));
    const path = join(dir, "state.db");
    const kvs = [await openKv(path), await openKv(path)];
    const stores = [
      await kvStateStore({ kv: kvs[0] }),
      await kvStateStore({ kv: kvs[1] }),
    ];
    return {
      stores,
      async close() {
        await Promise.all(stores.map((s) => s.close()));
        for (const kv of kvs) kv.close();
        await rm(dir, { recursive: true, force: true });
      },
      async reports(key) {
        const ids = [];
        for await (
          const e of kvs[0].list({ prefix: ["bulwark", key, "report"] })
        ) {
          ids.push(e.key[3]);
        }
        return ids.sort();
      },
      async state(key) {
        const { value } = await kvs[0].get(["bulwark", key, "state"]);
        assert.ok(
          value instanceof Uint8Array,
          "stored as bytes, not as a V8-serialized object",
        );
        return JSON.parse(new TextDecoder().decode(value));
      },
    };
  },
  async redis() {
    const server = await startRedis();
    const { url } = server;
    const stores = [
      await redisStateStore({ url }),
      await redisStateStore({ url }),
    ];
    const client = createClient({ url });
    await client.connect();
    return {
      stores,
      async close() {
        await Promise.all(stores.map((s) => s.close()));
        client.destroy();
        await server.stop();
      },
      async reports(key) {
        return (await client.hKeys(`bulwark:${key}:reports`)).sort();
      },
      async state(key) {
        return JSON.parse(await client.get(`bulwark:${key}:state`));
      },
    };
  },
};

/** Syncs `p` until `done()` holds (a write of the other instance may still be on its way). */
async function syncUntil(p, done) {
  for (let i = 0; i < 100 && !done(); i++) {
    await p.fleet.sync();
    if (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(done(), "the state arrived through the store");
}

const down = () => Promise.reject(new Error("down"));
/** A call that failed with "down" (the policy gave up after its one attempt). */
const gaveUp = (e) => e instanceof RetryExhaustedError && e.cause?.message === "down";

for (const [kind, open] of Object.entries(kinds)) {
  test(`fleet circuit through ${kind}: one policy opens it, the other adopts it, one probe fleet-wide closes both`, async () => {
    const { stores, reports, state, close } = await open();
    const clock = new VirtualClock();
    const seen = [];
    const make = (id, store) =>
      policy("db", {
        clock,
        telemetry: false,
        retry: { maxAttempts: 1 },
        circuit: {
          kind: "consecutive",
          threshold: 3,
          breakMs: 5_000,
          halfOpenMaxCalls: 1,
        },
        fleet: { store, syncIntervalMs: SYNC_MS, instanceId: id },
        onEvent: (e) => {
          if (e.type === "circuit_transition") {
            seen.push(`${id}:${e.from}->${e.to}:${e.reason}`);
          }
        },
      });
    const a = make("a", stores[0]);
    const b = make("b", stores[1]);
    try {
      await Promise.all([a.fleet.sync(), b.fleet.sync()]);
      assert.deepEqual(await reports("circuit:db"), ["a", "b"]);

      for (let i = 0; i < 3; i++) await assert.rejects(a.execute(down), gaveUp);
      assert.equal(a.circuit.state, "open");
      assert.equal(
        b.circuit.state,
        "closed",
        "no I/O on the call path: b learns at its sync",
      );
      await syncUntil(b, () => b.circuit.state === "open");
      await assert.rejects(b.execute(() => "never"), CircuitOpenError);
      assert.deepEqual(seen, [
        "a:closed->open:failure_threshold",
        "b:closed->open:fleet",
      ]);
      const opened = await state("circuit:db");
      assert.deepEqual([opened.version, opened.state, opened.by], [
        1,
        "open",
        "a",
      ]);

      // The break elapses: each asks for a probe lease (its call is rejected meanwhile), the
      // store grants one across both.
      await clock.advance(5_000);
      await assert.rejects(a.execute(() => "wait"), CircuitOpenError);
      await assert.rejects(b.execute(() => "wait"), CircuitOpenError);
      await Promise.all([a.fleet.sync(), b.fleet.sync()]);
      const calls = await Promise.allSettled([
        a.execute(() => "a"),
        b.execute(() => "b"),
      ]);
      const admitted = calls.filter((c) => c.status === "fulfilled").map((c) => c.value);
      assert.equal(admitted.length, 1, "one probe across both instances");
      const [holder, other] = admitted[0] === "a" ? [a, b] : [b, a];
      assert.ok(
        calls.find((c) => c.status === "rejected").reason instanceof
          CircuitOpenError,
      );
      assert.equal(holder.circuit.state, "closed", "its probe succeeded");
      await syncUntil(other, () => other.circuit.state === "closed");
      const h = admitted[0];
      const o = h === "a" ? "b" : "a";
      assert.deepEqual(seen.slice(2), [
        `${h}:open->half_open:break_elapsed`,
        `${h}:half_open->closed:probe_success`,
        `${o}:open->closed:fleet`,
      ]);
      assert.equal(await other.execute(() => 1), 1);
    } finally {
      await Promise.all([a.fleet.close(), b.fleet.close()]);
      await close();
    }
  });

  test(`fleet failure budget through ${kind}: two policies, each below minSamples alone, breach together`, async () => {
    const { stores, reports, close } = await open();
    const clock = new VirtualClock();
    const make = (id, store) =>
      policy("slo", {
        clock,
        telemetry: false,
        retry: { maxAttempts: 1 },
        failureBudget: { threshold: 0.1, windowMs: 60_000, minSamples: 20 },
        fleet: { store, syncIntervalMs: SYNC_MS, instanceId: id },
      });
    const a = make("a", stores[0]);
    const b = make("b", stores[1]);
    try {
      await Promise.all([a.fleet.sync(), b.fleet.sync()]); // the first syncs, before any call
      for (const p of [a, b]) {
        for (let i = 0; i < 12; i++) {
          if (i % 2 === 0) await assert.rejects(p.execute(down), gaveUp);
          else assert.equal(await p.execute(() => i), i);
        }
      }
      assert.deepEqual([
        a.failureBudget.samples(),
        a.failureBudget.isBreached(),
      ], [12, false]);
      // a writes its 12, b writes its 12 and reads a's, a reads b's.
      await a.fleet.sync();
      await b.fleet.sync();
      await a.fleet.sync();
      for (const p of [a, b]) {
        assert.equal(p.failureBudget.samples(), 24);
        assert.equal(p.failureBudget.failureRate(), 0.5);
        assert.equal(p.failureBudget.isBreached(), true);
      }
      assert.deepEqual(await reports("failure_budget:slo"), ["a", "b"]);
    } finally {
      await Promise.all([a.fleet.close(), b.fleet.close()]);
      await close();
    }
  });
}

/**
 * Runs the ```js block of the "On Node" section of `doc` (docs/) as written, in a child Node
 * process resolving packages from node_tests/; resolves with its exit code and stderr.
 */
async function runDocExample(doc, env = {}) {
  const text = await readFile(
    new URL(`../docs/${doc}`, import.meta.url),
    "utf8",
  );
  const section = text.slice(text.indexOf("\n## On Node\n"));
  const code = /```js ignore\n([\s\S]*?)\n```/.exec(section)?.[1];
  assert.ok(code, `docs/${doc} has an On Node example`);
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
    cwd: fileURLToPath(new URL(".", import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 30_000, // a hung example is killed (and fails) rather than holding the suite
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const [exitCode] = await once(child, "exit");
  return { exitCode, stderr };
}

test("the On Node example of docs/fleet.md runs as written (with a redis-server of its own)", async () => {
  const server = await startRedis();
  try {
    assert.deepEqual(
      await runDocExample("fleet.md", { REDIS_URL: server.url }),
      {
        exitCode: 0,
        stderr: "",
      },
    );
  } finally {
    await server.stop();
  }
});
