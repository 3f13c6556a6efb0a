// A removal spanning many records is split into atomics by what KV really charges for them.
import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { keyBytes } from "../../src/durable/kv_records.ts";
import { rawCounters } from "./_kv.ts";

const raw = { encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b.slice() };

Deno.test("keyBytes charges what Deno KV charges an atomic: a check's key once, a set's key twice plus its value, 819,200 bytes in all", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const name = ["bulwark", "buffer", "nul\0name", "r"];
    assert.equal(keyBytes([...name, 7, 0]), 9 + 8 + 11 + 3 + 9 + 9);
    const attempt = (extra: number) => {
      const op = kv.atomic().check({ key: [...name, -1, 0], versionstamp: null });
      let charged = keyBytes([...name, -1, 0]);
      for (let i = 0; i < 12; i++) {
        op.set([...name, i, 0], new Uint8Array(65_536));
        charged += 2 * keyBytes([...name, i, 0]) + 65_536;
      }
      const last = [...name, 12, 0];
      const rest = 819_200 - charged - 2 * keyBytes(last) + extra;
      return op.set(last, new Uint8Array(rest)).commit();
    };
    assert.equal((await attempt(0)).ok, true);
    await assert.rejects(attempt(1), /Total mutation size too large/);
  } finally {
    kv.close();
  }
});

for (const size of [80, 200]) {
  Deno.test(`remove of one event from each of 120 records of 100 events of ${size} bytes: all removed, in atomics KV takes`, async () => {
    const kv = await Deno.openKv(":memory:");
    try {
      const buffer = await EdgeBuffer.open({ kv, name: "s", telemetry: false, codec: raw });
      for (let r = 0; r < 120; r++) {
        const events = Array.from({ length: 100 }, () => new Uint8Array(size));
        assert.equal(await buffer.enqueueMany(events), 100);
      }
      const ids = Array.from({ length: 120 }, (_, r) => `${r}.${r % 100}`);
      assert.equal(await buffer.remove(ids), 120);
      assert.deepEqual(await rawCounters(kv, "s"), { count: 11_880, bytes: 11_880 * size });
      const left = await buffer.peek(200);
      assert.deepEqual(left.slice(0, 2).map((e) => e.id), ["0.1", "0.2"]);
      assert.equal(left[99]!.id, "1.0");
      await buffer.close();
    } finally {
      kv.close();
    }
  });
}
