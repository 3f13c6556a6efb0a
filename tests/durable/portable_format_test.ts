// The record format: every value a buffer writes is a Uint8Array or a KvU64, which KV stores the
// same way on Deno and on Node (npm @deno/kv); V8-serialized objects are not portable between
// them (the cross-runtime runs are in node_tests/durable_cross.test.mjs).
import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { buildRecord, CHUNK_BYTES, decodeHead, RECORD_FORMAT } from "../../src/durable/record.ts";
import { rawCounters, rawRecords, tempKvPath } from "./_kv.ts";

/** Every entry of the KV: key (as JSON), value and versionstamp. */
async function entries(kv: Deno.Kv): Promise<Array<[string, unknown, string]>> {
  const out: Array<[string, unknown, string]> = [];
  for await (const e of kv.list({ prefix: [] })) {
    out.push([JSON.stringify(e.key), e.value, e.versionstamp]);
  }
  return out;
}

Deno.test("every value a buffer writes is bytes or a KvU64: records, rewrites, large events, the key check, encrypted or not", async () => {
  const { path, cleanup } = await tempKvPath();
  const kv = await Deno.openKv(path);
  try {
    const clock = new VirtualClock(1_000);
    const plain = await EdgeBuffer.open<unknown>({ kv, name: "p", clock, telemetry: false });
    assert.equal(await plain.enqueueMany([{ t: 1 }, { t: 2 }, { t: 3 }]), 3);
    assert.equal(await plain.enqueue("x".repeat(130_000)), true); // 3 chunks
    assert.equal(await plain.remove(["0.1"]), 1); // record 0 rewritten with 0.0 and 0.2
    const flushed: unknown[] = [];
    const result = await plain.flush((events) => {
      if (flushed.length > 0) return Promise.reject(new Error("collector away"));
      flushed.push(...events);
      return Promise.resolve();
    }, { batchSize: 1 });
    assert.deepEqual([result.sent, result.remaining, flushed], [1, 2, [{ t: 1 }]]);
    await plain.close();
    const key = new Uint8Array(32).fill(7);
    const sealed = await EdgeBuffer.open({ kv, name: "s", encryptionKey: key, telemetry: false });
    await sealed.enqueueMany([{ t: 4 }, { t: 5 }]);
    await sealed.close();

    const all = await entries(kv);
    const kinds = all.map(([k, v]) => [k, v instanceof Deno.KvU64 ? "u64" : v?.constructor.name]);
    assert.deepEqual(kinds, [
      ['["bulwark","buffer","p","bytes"]', "u64"],
      ['["bulwark","buffer","p","count"]', "u64"],
      ['["bulwark","buffer","p","key"]', "Uint8Array"],
      ['["bulwark","buffer","p","next"]', "u64"],
      ['["bulwark","buffer","p","r",0,0]', "Uint8Array"],
      ['["bulwark","buffer","p","r",1,0]', "Uint8Array"],
      ['["bulwark","buffer","p","r",1,1]', "Uint8Array"],
      ['["bulwark","buffer","p","r",1,2]', "Uint8Array"],
      ['["bulwark","buffer","p","rm"]', "u64"],
      ['["bulwark","buffer","s","bytes"]', "u64"],
      ['["bulwark","buffer","s","count"]', "u64"],
      ['["bulwark","buffer","s","key"]', "Uint8Array"],
      ['["bulwark","buffer","s","next"]', "u64"],
      ['["bulwark","buffer","s","r",0,0]', "Uint8Array"],
    ]);
    const value = (k: string) => all.find(([key]) => key === k)![1] as Uint8Array;
    // The key check: format, encrypted flag, then (encrypted) the known text sealed: IV + 24 + tag.
    assert.deepEqual([...value('["bulwark","buffer","p","key"]')], [RECORD_FORMAT, 0]);
    const check = value('["bulwark","buffer","s","key"]');
    assert.deepEqual([check.length, check[0], check[1]], [2 + 12 + 24 + 16, RECORD_FORMAT, 1]);
    // Record 0 after the removal of 0.1 and the flush of 0.0: byte for byte.
    const head = value('["bulwark","buffer","p","r",0,0]');
    const expected = new Uint8Array(5 + 16 + 7);
    const view = new DataView(expected.buffer);
    view.setUint8(0, 1); // format
    view.setUint16(1, 1, true); // events
    view.setUint16(3, 1, true); // chunks
    view.setFloat64(5, 1_000, true); // enqueued at
    view.setUint32(13, 7, true); // stored size
    view.setUint32(17, 2, true); // index
    expected.set(new TextEncoder().encode('{"t":3}'), 21);
    assert.deepEqual(head, expected);
    const big = decodeHead(value('["bulwark","buffer","p","r",1,0]'))!;
    assert.deepEqual([big.n, big.size, big.idx, big.d.length], [3, [130_002], [0], CHUNK_BYTES]);
    // Counters equal the records.
    const records = await rawRecords(kv, "p");
    const counters = await rawCounters(kv, "p");
    assert.deepEqual(counters, {
      count: records.length,
      bytes: records.reduce((sum, r) => sum + r.size, 0),
    });
    assert.deepEqual(counters, { count: 2, bytes: 7 + 130_002 });
  } finally {
    kv.close();
    await cleanup();
  }
});

Deno.test("decodeHead reads what buildRecord wrote and refuses anything else", () => {
  const bytes = new TextEncoder().encode("abcdef");
  const [head] = buildRecord([
    { idx: 0, at: 1.5, bytes: bytes.subarray(0, 2) },
    { idx: 4, at: 2 ** 40, bytes: bytes.subarray(2) },
  ]);
  assert.deepEqual(decodeHead(head), {
    at: [1.5, 2 ** 40],
    size: [2, 4],
    idx: [0, 4],
    n: 1,
    d: bytes,
  });
  const wrongFormat = head!.slice();
  wrongFormat[0] = 2;
  const wrongChunks = head!.slice();
  wrongChunks[3] = 2;
  for (
    const bad of [
      head!.subarray(0, head!.length - 1), // data cut short
      wrongFormat,
      wrongChunks,
      new Uint8Array(4),
      { at: [1], size: [1], idx: [0], n: 1, d: new Uint8Array(1) }, // the earlier object head
      null,
    ]
  ) {
    assert.equal(decodeHead(bad), undefined);
  }
});

const EARLIER =
  "it was written by an earlier Bulwark, whose V8-serialized records only the runtime " +
  "that wrote them can read, or it is damaged; flush it with the version (and on the runtime) " +
  "that wrote it: an open that finds no record stored rewrites an earlier key check";

Deno.test("a namespace not in the record format (an earlier Bulwark's objects) is refused at open, before anything is written", async () => {
  const { path, cleanup } = await tempKvPath();
  const kv = await Deno.openKv(path);
  try {
    // As Bulwark wrote before: an object key check and object record heads.
    const head = { at: [1], size: [1], idx: [0], n: 1, d: new Uint8Array([49]) };
    await kv.set(["bulwark", "buffer", "old", "key"], { encrypted: false });
    await kv.set(["bulwark", "buffer", "old", "r", 0, 0], head);
    await kv.set(["bulwark", "buffer", "nocheck", "r", 0, 0], head);
    await kv.set(["bulwark", "buffer", "future", "key"], new Uint8Array([2, 0]));
    await kv.set(["bulwark", "buffer", "future", "r", 0, 0], new Uint8Array([2, 1, 0, 1, 0]));
    await kv.set(["bulwark", "buffer", "empty", "key"], new Uint8Array([2, 0]));
    const before = await entries(kv);
    for (
      const [name, found] of [
        ["old", "its key check is a V8-serialized object"],
        ["nocheck", "its key check is missing while records are stored"],
        ["future", "its key check is 2 bytes, format byte 2"],
      ]
    ) {
      await assert.rejects(
        EdgeBuffer.open({ kv, name, telemetry: false }),
        new TypeError(`buffer "${name}" is not in record format 1 (${found}): ${EARLIER}`),
      );
    }
    // With no record stored, a key check it cannot rewrite: the key to delete is named.
    await assert.rejects(
      EdgeBuffer.open({ kv, name: "empty", telemetry: false }),
      new TypeError(
        'buffer "empty" holds no record, but its key check ["bulwark","buffer","empty","key"] ' +
          "is 2 bytes, format byte 2: delete that key to open the buffer with this version",
      ),
    );
    // Through a path too (the buffer's own KV is closed again: the sanitizer checks).
    await assert.rejects(
      EdgeBuffer.open({ path, name: "old", telemetry: false }),
      new TypeError(
        `buffer "old" is not in record format 1 (its key check is a V8-serialized object): ${EARLIER}`,
      ),
    );
    assert.deepEqual(await entries(kv), before);
  } finally {
    kv.close();
    await cleanup();
  }
});

Deno.test("an open that finds no key check, then records (another writer's first open and enqueue in between), uses the key check written meanwhile", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    let raced = false;
    // A kv whose first read of the key check lets another writer open and enqueue right after.
    const racing = {
      ...Object.fromEntries(
        (["getMany", "list", "atomic", "close"] as const).map((m) => [m, kv[m].bind(kv)]),
      ),
      async get(key: Deno.KvKey) {
        const entry = await kv.get(key);
        if (!raced && key.at(-1) === "key") {
          raced = true;
          const other = await EdgeBuffer.open({ kv, name: "race", telemetry: false });
          assert.equal(await other.enqueue({ by: "other" }), true);
          await other.close();
        }
        return entry;
      },
    } as unknown as Deno.Kv;
    const buffer = await EdgeBuffer.open({ kv: racing, name: "race", telemetry: false });
    assert.equal(raced, true);
    assert.equal(await buffer.enqueue({ by: "late" }), true);
    assert.deepEqual((await buffer.peek()).map((e) => [e.id, e.event]), [
      ["0.0", { by: "other" }],
      ["1.0", { by: "late" }],
    ]);
    await buffer.close();
  } finally {
    kv.close();
  }
});
