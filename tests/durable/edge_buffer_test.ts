import assert from "node:assert/strict";
import { BufferDecryptError, EdgeBuffer, MAX_EVENT_BYTES } from "../../durable.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { loose, recorder } from "../_helpers.ts";
import { rawCounters, rawRecords } from "./_kv.ts";

/** A KV whose commits can be held: `hold(n)` blocks commit number n until `release()`. */
async function holdingKv() {
  const kv = await Deno.openKv(":memory:");
  const counts = { committed: 0 };
  let held = -1;
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let started = 0;
  const wrapped = {
    atomic() {
      const op = kv.atomic();
      const commit = op.commit.bind(op);
      op.commit = async () => {
        if (++started === held) await gate;
        const result = await commit();
        counts.committed++;
        return result;
      };
      return op;
    },
    get: kv.get.bind(kv),
    getMany: kv.getMany.bind(kv),
    list: kv.list.bind(kv),
    close: kv.close.bind(kv),
  } as unknown as Deno.Kv;
  return { kv, wrapped, counts, hold: (n: number) => (held = n), release };
}

Deno.test("EdgeBuffer.enqueue() group-commits concurrent enqueues; each resolves after its own commit", async () => {
  const { kv, wrapped, counts, hold, release } = await holdingKv();
  try {
    const buffer = await EdgeBuffer.open<string>({ kv: wrapped, telemetry: false });
    assert.equal(counts.committed, 1); // the first open writes the key check
    // 2,000 small events: one commit.
    await Promise.all(Array.from({ length: 2_000 }, (_, i) => buffer.enqueue(String(i))));
    assert.equal(counts.committed, 2);
    // 2,000 events of 1 KB (2 MB) need three atomics of at most 800 KB: hold the second.
    hold(4); // commit 2 was the first group; this group's second atomic is commit 4
    const resolved: number[] = [];
    const all = Promise.all(
      Array.from(
        { length: 2_000 },
        (_, i) => buffer.enqueue(`${i}`.padEnd(1_000, "x")).then(() => resolved.push(i)),
      ),
    );
    while (counts.committed < 3) await new Promise((r) => setTimeout(r, 1));
    await new Promise((r) => setTimeout(r, 5));
    // Only the first atomic's events have resolved, and they are a prefix.
    assert.ok(resolved.length > 0 && resolved.length < 1_000, `${resolved.length} resolved`);
    assert.deepEqual(resolved, Array.from({ length: resolved.length }, (_, i) => i));
    release();
    await all;
    assert.equal(counts.committed, 5);
    assert.equal(resolved.length, 2_000);
    const raw = await rawRecords(kv, "default");
    assert.equal(raw.length, 4_000);
    assert.deepEqual(await rawCounters(kv, "default"), {
      count: 4_000,
      bytes: raw.reduce((sum, r) => sum + r.size, 0),
    });
    assert.deepEqual((await buffer.peek(3)).map((e) => [e.id, e.event]), [
      ["0.0", "0"],
      ["0.1", "1"],
      ["0.2", "2"],
    ]);
    await buffer.close();
  } finally {
    kv.close();
  }
});

Deno.test("EdgeBuffer: an event spanning several KV values round-trips; above 768 KiB is a RangeError naming its size", async () => {
  await using buffer = await EdgeBuffer.open<string>({ path: ":memory:", telemetry: false });
  const big = "x".repeat(300_000);
  assert.equal(await buffer.enqueue(big), true);
  const [entry] = await buffer.peek(1);
  assert.equal(entry!.event, big);
  assert.equal(entry!.sizeBytes, 300_002);
  const largest = "y".repeat(MAX_EVENT_BYTES - 2);
  assert.equal(await buffer.enqueue(largest), true);
  await assert.rejects(
    buffer.enqueue("z".repeat(MAX_EVENT_BYTES - 1)),
    (e) =>
      e instanceof RangeError &&
      e.message === "event must be at most 786432 bytes once stored: received 786433 bytes",
  );
  assert.equal((await buffer.stats()).sizeBytes, 300_002 + MAX_EVENT_BYTES);
});

Deno.test('EdgeBuffer onFull "reject" refuses while full and reports buffer_dropped "full"', async () => {
  const rec = recorder();
  await using buffer = await EdgeBuffer.open<string>({
    path: ":memory:",
    telemetry: false,
    maxSizeBytes: 30,
    onEvent: rec.onEvent,
  });
  // Each event is 10 bytes stored ("aaaaaaaa" as JSON).
  const results = [];
  for (const c of "abcd") results.push(await buffer.enqueue(c.repeat(8)));
  assert.deepEqual(results, [true, true, true, false]);
  assert.deepEqual(rec.events.map((e) => e.type === "buffer_dropped" && [e.reason, e.count]), [
    ["full", 1],
  ]);
  const stats = await buffer.stats();
  assert.deepEqual({ ...stats, oldestEnqueuedAt: 0 }, {
    count: 3,
    sizeBytes: 30,
    oldestEnqueuedAt: 0,
    enqueued: 3,
    dropped: 1,
    expired: 0,
    flushed: 0,
  });
});

Deno.test('EdgeBuffer onFull "drop_oldest" evicts the oldest in the same commit', async () => {
  const rec = recorder();
  await using buffer = await EdgeBuffer.open<string>({
    path: ":memory:",
    telemetry: false,
    maxSizeBytes: 30,
    onFull: "drop_oldest",
    onEvent: rec.onEvent,
  });
  for (const c of "abcde") assert.equal(await buffer.enqueue(c.repeat(8)), true);
  // A 20-byte event evicts two more.
  assert.equal(await buffer.enqueue("f".repeat(18)), true);
  assert.deepEqual((await buffer.peek(10)).map((e) => e.event), ["eeeeeeee", "f".repeat(18)]);
  assert.deepEqual(rec.events.map((e) => e.type === "buffer_dropped" && [e.reason, e.count]), [
    ["evicted", 1],
    ["evicted", 1],
    ["evicted", 2],
  ]);
  const stats = await buffer.stats();
  assert.equal(stats.dropped, 4);
  assert.equal(stats.sizeBytes, 30);
  // Larger than the whole buffer: refused, nothing evicted.
  assert.equal(await buffer.enqueue("g".repeat(40)), false);
  assert.equal((await buffer.stats()).count, 2);
});

Deno.test("EdgeBuffer expires events older than maxAgeMs (strictly) when met, in virtual time", async () => {
  const clock = new VirtualClock(1_000);
  const rec = recorder();
  await using buffer = await EdgeBuffer.open<number>({
    path: ":memory:",
    telemetry: false,
    clock,
    maxAgeMs: 60_000,
    onEvent: rec.onEvent,
  });
  await buffer.enqueueMany([1, 2]);
  await clock.advance(30_000);
  await buffer.enqueue(3);
  await clock.advance(30_000); // 1 and 2 are exactly 60 s old: not expired yet
  assert.deepEqual((await buffer.peek()).map((e) => [e.event, e.enqueuedAt]), [
    [1, 1_000],
    [2, 1_000],
    [3, 31_000],
  ]);
  await clock.advance(1);
  const stats = await buffer.stats();
  assert.deepEqual([stats.count, stats.expired, stats.oldestEnqueuedAt], [1, 2, 31_000]);
  assert.deepEqual(rec.events.map((e) => e.type === "buffer_dropped" && [e.reason, e.count]), [
    ["expired", 2],
  ]);
  await clock.advance(30_000);
  const sent: number[][] = [];
  assert.deepEqual(await buffer.flush((events) => Promise.resolve(void sent.push(events))), {
    sent: 0,
    batches: 0,
    remaining: 0,
  });
  assert.deepEqual(sent, []);
  assert.equal((await buffer.stats()).expired, 3);
});

Deno.test("EdgeBuffer encrypts each record: raw KV values hold no plaintext; a wrong key is a BufferDecryptError", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const buffer = await EdgeBuffer.open<{ secret: string }>({
      kv,
      telemetry: false,
      encryptionKey: key,
    });
    await buffer.enqueueMany([{ secret: "reading-4711" }, { secret: "y".repeat(130_000) }]);
    assert.deepEqual((await buffer.peek()).map((e) => e.event.secret.slice(0, 12)), [
      "reading-4711",
      "yyyyyyyyyyyy",
    ]);
    // IV (12) + tag (16) per record.
    assert.equal((await buffer.peek(1))[0]!.sizeBytes, 25 + 28);
    await buffer.close();
    const text = new TextDecoder("latin1");
    for await (const entry of kv.list({ prefix: ["bulwark", "buffer", "default", "r"] })) {
      const bytes = entry.value as Uint8Array;
      assert.ok(!text.decode(bytes).includes("reading-4711"));
      assert.ok(!text.decode(bytes).includes("yyyyyyyy"));
    }
    const wrong = await EdgeBuffer.open({
      kv,
      telemetry: false,
      encryptionKey: new Uint8Array(32),
    });
    await assert.rejects(wrong.peek(), (e) => e instanceof BufferDecryptError && e.id === "0.0");
    await assert.rejects(wrong.flush(() => Promise.resolve()), BufferDecryptError);
    await wrong.close();
    const none = await EdgeBuffer.open({ kv, telemetry: false });
    await assert.rejects(none.peek(), BufferDecryptError);
    await none.close();
    // A record moved to another key fails its additional data check.
    for (const key of [["key"], ["r", 0, 0]]) {
      const entry = await kv.get(["bulwark", "buffer", "default", ...key]);
      await kv.set(["bulwark", "buffer", "moved", ...key], entry.value);
    }
    const moved = await EdgeBuffer.open({
      kv,
      name: "moved",
      telemetry: false,
      encryptionKey: key,
    });
    await assert.rejects(moved.peek(), BufferDecryptError);
    await moved.close();
    // An AES-GCM CryptoKey works as well.
    const cryptoKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, [
      "encrypt",
      "decrypt",
    ]);
    const again = await EdgeBuffer.open<{ secret: string }>({
      kv,
      telemetry: false,
      encryptionKey: cryptoKey,
    });
    assert.equal((await again.peek(1))[0]!.event.secret, "reading-4711");
    await again.close();
  } finally {
    kv.close();
  }
});

Deno.test("EdgeBuffer.flush() removes a batch only after send resolved; a failed batch stays with all after it", async () => {
  const rec = recorder();
  await using buffer = await EdgeBuffer.open<number>({
    path: ":memory:",
    telemetry: false,
    onEvent: rec.onEvent,
  });
  await buffer.enqueueMany(Array.from({ length: 10 }, (_, i) => i));
  const batches: Array<{ events: number[]; ids: string[] }> = [];
  const boom = new Error("collector down");
  const result = await buffer.flush((events, { ids }) => {
    batches.push({ events, ids });
    return batches.length === 3 ? Promise.reject(boom) : Promise.resolve();
  }, { batchSize: 4 });
  assert.deepEqual(result, { sent: 8, batches: 2, remaining: 2, error: boom });
  assert.deepEqual(batches.map((b) => b.events), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  assert.deepEqual(batches[0]!.ids, ["0.0", "0.1", "0.2", "0.3"]);
  assert.deepEqual((await buffer.peek()).map((e) => e.event), [8, 9]);
  assert.deepEqual(
    rec.events.map((e) => e.type === "buffer_flushed" && [e.count, e.remaining]),
    [[4, 6], [4, 2]],
  );
  // One flush at a time: a concurrent call gets the running flush's result.
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let sends = 0;
  const first = buffer.flush(async () => {
    sends++;
    await gate;
  });
  const second = buffer.flush(() => Promise.reject(new Error("not called")));
  assert.equal(first, second);
  release();
  assert.deepEqual(await second, { sent: 2, batches: 1, remaining: 0 });
  assert.equal(sends, 1);
  assert.equal((await buffer.stats()).flushed, 10);
});

Deno.test("EdgeBuffer.remove() and clear() count what they removed; a closed buffer refuses calls", async () => {
  const rec = recorder();
  const buffer = await EdgeBuffer.open<string>({
    path: ":memory:",
    telemetry: false,
    onEvent: rec.onEvent,
  });
  await buffer.enqueueMany(["a", "b", "c", "d"]);
  const [a, b] = await buffer.peek(2);
  assert.equal(await buffer.remove([a!.id, b!.id, a!.id, "99.0", "0.9"]), 2);
  assert.equal(await buffer.remove([a!.id]), 0);
  assert.equal(await buffer.clear(), 2);
  assert.deepEqual(rec.events.map((e) => e.type === "buffer_dropped" && [e.reason, e.count]), [
    ["cleared", 2],
  ]);
  assert.deepEqual([(await buffer.stats()).count, (await buffer.stats()).sizeBytes], [0, 0]);
  await assert.rejects(buffer.remove(loose("1")), /ids must be an array of ids: received "1"/);
  await assert.rejects(buffer.remove(["x"]), /ids must be event ids from peek\(\): received "x"/);
  await buffer.close();
  await assert.rejects(buffer.enqueue("e"), /EdgeBuffer "default" is closed/);
  await assert.rejects(buffer.peek(), /is closed/);
});

Deno.test("EdgeBuffer.open() rejects bad options with TypeError/RangeError naming the option", async () => {
  const cases: Array<[unknown, ErrorConstructor, string]> = [
    [{ maxSizeBytes: -1 }, RangeError, "maxSizeBytes must be an integer >= 1: received -1"],
    [{ maxSizeBytes: NaN }, RangeError, "maxSizeBytes must be an integer >= 1: received NaN"],
    [{ maxAgeMs: -5 }, RangeError, "maxAgeMs must be a number > 0: received -5"],
    [{ maxAgeMs: NaN }, RangeError, "maxAgeMs must be a number > 0: received NaN"],
    [{ maxAgeMs: "1h" }, TypeError, 'maxAgeMs must be a number > 0: received "1h"'],
    [
      { onFull: "drop_newest" },
      RangeError,
      'onFull must be "reject" or "drop_oldest": received "drop_newest"',
    ],
    [
      { encryptionKey: new Uint8Array(16) },
      RangeError,
      "encryptionKey must be a 32-byte Uint8Array or an AES-GCM CryptoKey of 256 bits: received 16 bytes",
    ],
    [
      { encryptionKey: "secret" },
      TypeError,
      'encryptionKey must be a 32-byte Uint8Array or an AES-GCM CryptoKey of 256 bits: received "secret"',
    ],
    [
      { maxSize: 1 },
      TypeError,
      "maxSize is not a known option (expected one of: path, kv, name, maxSizeBytes, maxAgeMs, onFull, encryptionKey, codec, clock, onEvent, telemetry)",
    ],
    [
      { codec: { encode: () => new Uint8Array() } },
      TypeError,
      "codec.decode must be a function: received undefined",
    ],
    [{ name: "" }, TypeError, 'name must be a non-empty string: received ""'],
    [
      { maxSizeBytes: null },
      TypeError,
      "maxSizeBytes must be left out for its default, not null: received null",
    ],
  ];
  for (const [options, Class, message] of cases) {
    await assert.rejects(
      EdgeBuffer.open(loose({ path: ":memory:", ...(options as object) })),
      (e) => {
        assert.equal(Object.getPrototypeOf(e), Class.prototype, message);
        assert.equal((e as Error).message, message);
        return true;
      },
    );
  }
  const kv = await Deno.openKv(":memory:");
  await assert.rejects(
    EdgeBuffer.open({ kv, path: ":memory:" }),
    /path and kv must not both be given/,
  );
  kv.close();
  await using buffer = await EdgeBuffer.open({ path: ":memory:", telemetry: false });
  await assert.rejects(buffer.peek(0), /limit must be an integer >= 1: received 0/);
  assert.throws(
    () => buffer.flush(() => Promise.resolve(), { batchSize: 0 }),
    /batchSize must be an integer >= 1: received 0/,
  );
  assert.throws(
    () => buffer.flush(() => Promise.resolve(), loose({ size: 1 })),
    /size is not a known option/,
  );
  assert.throws(
    () => buffer.flush(() => Promise.resolve(), loose({ signal: "x" })),
    new TypeError('signal must be an AbortSignal: received "x"'),
  );
  await assert.rejects(
    buffer.enqueue(loose(undefined)),
    /event must be JSON-serializable: received undefined/,
  );
});

Deno.test("EdgeBuffer counters always equal the records (raw check after mixed operations)", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const buffer = await EdgeBuffer.open<string>({
      kv,
      telemetry: false,
      maxSizeBytes: 500,
      onFull: "drop_oldest",
    });
    await Promise.all(Array.from({ length: 200 }, (_, i) => buffer.enqueue("e".repeat(i % 17))));
    await buffer.flush(() => Promise.resolve(), { batchSize: 7 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => buffer.enqueue("f".repeat(i % 5))));
    const raw = await rawRecords(kv, "default");
    assert.deepEqual(await rawCounters(kv, "default"), {
      count: raw.length,
      bytes: raw.reduce((sum, r) => sum + r.size, 0),
    });
    assert.equal(raw.length, 50);
    await buffer.close();
  } finally {
    kv.close();
  }
});

Deno.test('EdgeBuffer "drop_oldest" and remove() take events out of a shared record and keep the rest', async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const buffer = await EdgeBuffer.open<string>({
      kv,
      telemetry: false,
      maxSizeBytes: 100,
      onFull: "drop_oldest",
    });
    // Ten 9-byte events in one group commit share one record.
    await buffer.enqueueMany(Array.from({ length: 10 }, (_, i) => `event-${i}`));
    assert.equal((await rawRecords(kv, "default")).filter((r) => r.seq === 0).length, 10);
    // A 20-byte event evicts the two oldest: the record is rewritten with the other eight.
    assert.equal(await buffer.enqueue("x".repeat(18)), true);
    assert.equal(await buffer.remove(["0.5"]), 1);
    const left = await buffer.peek(20);
    assert.deepEqual(left.map((e) => e.id), [
      "0.2",
      "0.3",
      "0.4",
      "0.6",
      "0.7",
      "0.8",
      "0.9",
      "1.0",
    ]);
    assert.deepEqual(left.map((e) => e.event).slice(0, 2), ["event-2", "event-3"]);
    const raw = await rawRecords(kv, "default");
    assert.deepEqual(await rawCounters(kv, "default"), {
      count: 8,
      bytes: raw.reduce((sum, r) => sum + r.size, 0),
    });
    assert.equal(raw.reduce((sum, r) => sum + r.size, 0), 7 * 9 + 20); // "event-N" is 9 bytes as JSON
    assert.deepEqual([(await buffer.stats()).dropped, (await buffer.stats()).count], [2, 8]);
    await buffer.close();
  } finally {
    kv.close();
  }
});

Deno.test("EdgeBuffer.flush() removes what it sent when it also expired events on the way", async () => {
  const clock = new VirtualClock();
  const kv = await Deno.openKv(":memory:");
  try {
    const buffer = await EdgeBuffer.open<number>({ kv, telemetry: false, clock, maxAgeMs: 1_000 });
    await buffer.enqueueMany([1, 2, 3]); // one record
    await clock.advance(600);
    await buffer.enqueueMany([4, 5]); // another record
    await clock.advance(500); // 1..3 expired, 4 and 5 not
    await buffer.enqueue(6);
    const sent: number[] = [];
    assert.deepEqual(
      await buffer.flush((events) => Promise.resolve(void sent.push(...events)), { batchSize: 2 }),
      { sent: 3, batches: 2, remaining: 0 },
    );
    assert.deepEqual(sent, [4, 5, 6]);
    assert.deepEqual(await rawCounters(kv, "default"), { count: 0, bytes: 0 });
    assert.equal((await rawRecords(kv, "default")).length, 0);
    assert.equal((await buffer.stats()).expired, 3);
    await buffer.close();
  } finally {
    kv.close();
  }
});
