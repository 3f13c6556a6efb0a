import assert from "node:assert/strict";
import { EdgeBuffer, MAX_EVENT_BYTES } from "../../durable.ts";
import { GroupCommitter, largestEvent } from "../../src/durable/group_commit.ts";
import { KvRecords } from "../../src/durable/kv_records.ts";
import { PLAIN } from "../../src/durable/record.ts";
import { systemClock } from "../../src/core/clock.ts";
import { tempKvPath } from "./_kv.ts";

const bytes = { encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b };

/** A KV whose `getMany` calls are counted (a committer that spins reads the counters over and over). */
function counted(kv: Deno.Kv): { kv: Deno.Kv; reads: () => number } {
  let reads = 0;
  const proxy = new Proxy(kv, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (key === "getMany") reads++;
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { kv: proxy, reads: () => reads };
}

/** Waits until `p` settles or the KV was read `limit` more times; returns the outcome. */
async function settles<T>(p: Promise<T>, reads: () => number, limit = 500): Promise<string> {
  let outcome: string | undefined;
  p.then((v) => (outcome = `resolved ${v}`), (e) => (outcome = `rejected ${e}`));
  const start = reads();
  while (outcome === undefined && reads() - start < limit) await systemClock.sleep(1);
  return outcome ?? `not settled after ${limit} reads`;
}

Deno.test("drop_oldest: an event of the largest size evicts whole records of 20 KB it cannot rewrite beside it, and later enqueues go on", async () => {
  const { path, cleanup } = await tempKvPath();
  const real = await Deno.openKv(path);
  try {
    const { kv, reads } = counted(real);
    const buffer = await EdgeBuffer.open<Uint8Array>({
      kv,
      telemetry: false,
      onFull: "drop_oldest",
      maxSizeBytes: 1_000_000,
      codec: bytes,
    });
    // 45 records of 100 events of 200 bytes: 900,000 bytes.
    for (let r = 0; r < 45; r++) {
      await Promise.all(Array.from({ length: 100 }, () => buffer.enqueue(new Uint8Array(200))));
    }
    // 686,432 bytes must go: 34 records and 33 events of the 35th, whose rewrite
    // (20 KB) does not fit in the atomic beside the event: the 35th goes whole.
    const big = buffer.enqueue(new Uint8Array(MAX_EVENT_BYTES));
    assert.equal(await settles(big, reads), "resolved true");
    assert.equal(await settles(buffer.enqueue(new Uint8Array(10)), reads), "resolved true");
    const stats = await buffer.stats();
    assert.deepEqual([stats.count, stats.sizeBytes, stats.dropped], [1_002, 986_442, 3_500]);
    assert.deepEqual((await buffer.peek(1))[0]!.id, "35.0");
    await buffer.close();
  } finally {
    real.close();
    await cleanup();
  }
});

Deno.test("a long buffer name lowers the largest event (derived at open): the documented maximum is rejected with a RangeError, not left pending", async () => {
  assert.equal(largestEvent("default"), MAX_EVENT_BYTES);
  assert.equal(largestEvent("x".repeat(592)), MAX_EVENT_BYTES);
  assert.equal(largestEvent("x".repeat(700)), 784_496);
  const { path, cleanup } = await tempKvPath();
  const real = await Deno.openKv(path);
  try {
    const { kv, reads } = counted(real);
    const buffer = await EdgeBuffer.open<Uint8Array>({
      kv,
      name: "x".repeat(700),
      telemetry: false,
      codec: bytes,
    });
    assert.equal(
      await settles(buffer.enqueue(new Uint8Array(MAX_EVENT_BYTES)), reads),
      "rejected RangeError: event must be at most 784496 bytes once stored: received 786432 bytes",
    );
    assert.equal(await settles(buffer.enqueue(new Uint8Array(784_496)), reads), "resolved true");
    assert.equal((await buffer.peek(1))[0]!.sizeBytes, 784_496);
    await buffer.close();
  } finally {
    real.close();
    await cleanup();
  }
});

Deno.test("GroupCommitter: a round that makes no progress rejects the head with a RangeError and goes on with the rest", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const name = "x".repeat(700);
    const records = new KvRecords(kv, name);
    const committer = new GroupCommitter(
      { records, name, maxSizeBytes: 10_000_000, onFull: "reject", sealer: PLAIN },
      (fn) => fn(),
      () => {},
    );
    const outcome = (size: number) =>
      new Promise<string>((resolve) => {
        committer.add({
          bytes: new Uint8Array(size),
          size,
          at: 0,
          resolve: (ok) => resolve(`resolved ${ok}`),
          reject: (e) => resolve(`rejected ${e}`),
        });
      });
    // Past enqueue's check (as if it had none): too large for one atomic with this name.
    const [big, small] = await Promise.all([outcome(MAX_EVENT_BYTES), outcome(10)]);
    assert.equal(
      big,
      `rejected RangeError: event must fit in one KV atomic of buffer "${name}": received 786432 bytes`,
    );
    assert.equal(small, "resolved true");
    await committer.idle();
  } finally {
    kv.close();
  }
});
