// The buffer and the KV fleet store take any KvLike: a kv of another runtime (npm @deno/kv on
// Node) has its own KvU64 class, so the library must never construct a Deno.KvU64 itself.
import assert from "node:assert/strict";
import { EdgeBuffer, type KvAtomic, type KvLike } from "../../durable.ts";
import { kvStateStore } from "../../fleet.ts";
import { CircuitBreaker } from "../../mod.ts";
import { loose } from "../_helpers.ts";
import { rawCounters, rawRecords } from "./_kv.ts";

/**
 * A KvLike that is not a Deno.Kv (a plain object over one), counting the
 * mutations of its atomics by kind; a Deno.KvU64 value in a `set` throws,
 * as it would on a KV whose KvU64 class is another one.
 */
function foreignKv(kv: Deno.Kv): { kv: KvLike; mutations: Record<string, number> } {
  const mutations: Record<string, number> = { set: 0, delete: 0, sum: 0, check: 0 };
  const foreign: KvLike = {
    get: (key) => kv.get(key),
    getMany: (keys) => kv.getMany(keys),
    set: (key, value, options) => kv.set(key, value, options),
    delete: (key) => kv.delete(key),
    list: (selector, options) => kv.list(selector, options),
    close: () => kv.close(),
    atomic(): KvAtomic {
      const op = kv.atomic();
      const atomic: KvAtomic = {
        check(...checks) {
          mutations.check! += checks.length;
          op.check(...checks);
          return this;
        },
        set(key, value, options) {
          if (value instanceof Deno.KvU64) throw new TypeError("a KvU64 of another runtime");
          mutations.set!++;
          op.set(key, value, options);
          return this;
        },
        delete(key) {
          mutations.delete!++;
          op.delete(key);
          return this;
        },
        sum(key, n) {
          mutations.sum!++;
          op.sum(key, n);
          return this;
        },
        commit: () => op.commit(),
      };
      return atomic;
    },
  };
  return { kv: foreign, mutations };
}

Deno.test("EdgeBuffer on a KvLike that is not a Deno.Kv: counters move by sum only, FIFO and counts hold", async () => {
  const raw = await Deno.openKv(":memory:");
  const { kv, mutations } = foreignKv(raw);
  try {
    const buffer = await EdgeBuffer.open<number>({
      kv,
      name: "n",
      maxSizeBytes: 6,
      onFull: "drop_oldest",
      telemetry: false,
    });
    for (let i = 0; i < 6; i++) assert.equal(await buffer.enqueue(i), true); // 1 byte each
    assert.equal(await buffer.enqueueMany([6, 7]), 2); // one commit, evicting 0 and 1
    const sent: number[] = [];
    const result = await buffer.flush((events) => {
      sent.push(...events);
      return Promise.resolve();
    }, { batchSize: 4 });
    assert.deepEqual(sent, [2, 3, 4, 5, 6, 7]);
    assert.deepEqual(result, { sent: 6, batches: 2, remaining: 0 });
    assert.deepEqual(await buffer.stats(), {
      count: 0,
      sizeBytes: 0,
      enqueued: 8,
      dropped: 2,
      expired: 0,
      flushed: 6,
    });
    await buffer.close();
    assert.deepEqual(await rawCounters(raw, "n"), { count: 0, bytes: 0 });
    assert.deepEqual(await rawRecords(raw, "n"), []);
    const next = await raw.get<Deno.KvU64>(["bulwark", "buffer", "n", "next"]);
    assert.equal(next.value?.value, 7n, "7 enqueue commits, one record each");
    // 7 enqueue commits (bytes, count, next), the eviction's "rm", one removal commit for the
    // flush (rm, bytes, count: batches are removed together, up to REMOVE_EVERY events).
    assert.equal(mutations.sum, 7 * 3 + 1 + 3);
  } finally {
    raw.close();
  }
});

Deno.test("kvStateStore on a KvLike that is not a Deno.Kv: a transition is shared", async () => {
  const raw = await Deno.openKv(":memory:");
  const store = await kvStateStore({ kv: foreignKv(raw).kv });
  const fleet = { store, syncIntervalMs: 60_000 };
  const a = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 1, fleet });
  const b = new CircuitBreaker({ name: "db", kind: "consecutive", threshold: 1, fleet });
  try {
    a.recordFailure();
    await a.fleet.sync();
    await b.fleet.sync();
    assert.equal(b.state, "open");
  } finally {
    await Promise.all([a.fleet.close(), b.fleet.close()]);
    await store.close();
    raw.close();
  }
});

Deno.test("EdgeBuffer.open() rejects a kv that is not a KV, naming it", async () => {
  await assert.rejects(
    EdgeBuffer.open(loose({ kv: { get() {} } })),
    new TypeError(
      "kv must be an open KV (Deno.Kv, or Kv of npm @deno/kv): received {}",
    ),
  );
});

Deno.test("without Deno.openKv (no --unstable-kv) a path is a TypeError asking for kv", async () => {
  const kvModule = new URL("../../src/durable/kv.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--no-config",
      `import { openDenoKv } from "${kvModule}";
       await openDenoKv("x.db").catch((e) => console.log(e.name + ": " + e.message));`,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(
    new TextDecoder().decode(out.stdout),
    "TypeError: kv must be given where Deno.openKv is missing (Node, or Deno without " +
      '--unstable-kv): received path "x.db"; pass an open KV, e.g. kv: await openKv(path) ' +
      "from npm @deno/kv\n",
  );
});
