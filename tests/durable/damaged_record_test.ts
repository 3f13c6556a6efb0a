// A damaged record is refused with a TypeError, never read as other events or skipped.
import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { rawCounters } from "./_kv.ts";

const raw = { encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b.slice() };
const notRecord = (seq: number, name: string) =>
  new TypeError(`record ${seq} of bulwark/buffer/${name} is not a buffer record`);

Deno.test("a large event's record with a damaged size byte, or a later chunk of the wrong length or type, is refused by peek, flush and stats; nothing is sent or removed", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const damages: Array<[string, Deno.KvKey, (v: Uint8Array) => unknown]> = [
      // The head's size (bytes 13..16, little-endian) one larger: the chunks still number 2.
      ["size", [0, 0], (v) => {
        const h = v.slice();
        h[13]! ^= 1;
        return h;
      }],
      ["short", [0, 1], (v) => v.slice(1)],
      ["long", [0, 1], (v) => new Uint8Array([...v, 0])],
      ["object", [0, 1], (v) => ({ d: v })],
    ];
    for (const [name, at, damage] of damages) {
      const buffer = await EdgeBuffer.open<Uint8Array>({ kv, name, telemetry: false, codec: raw });
      assert.equal(await buffer.enqueue(new Uint8Array(100_002).fill(65)), true);
      const key = ["bulwark", "buffer", name, "r", ...at];
      await kv.set(key, damage((await kv.get<Uint8Array>(key)).value!));
      await assert.rejects(buffer.peek(1), notRecord(0, name));
      let sent = 0;
      await assert.rejects(
        buffer.flush((events) => {
          sent += events.length;
          return Promise.resolve();
        }),
        notRecord(0, name),
      );
      assert.equal(sent, 0);
      await assert.rejects(buffer.stats(), notRecord(0, name));
      assert.deepEqual(await rawCounters(kv, name), { count: 1, bytes: 100_002 });
      await buffer.close();
    }
  } finally {
    kv.close();
  }
});

Deno.test("remove of an event whose record head is not of this format throws, instead of removing nothing", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const buffer = await EdgeBuffer.open({ kv, name: "m", telemetry: false });
    for (const t of [0, 1, 2]) assert.equal(await buffer.enqueue({ t }), true);
    // An earlier Bulwark's object head in place of record 1.
    const d = new TextEncoder().encode('{"t":1}');
    await kv.set(["bulwark", "buffer", "m", "r", 1, 0], { at: [1], size: [7], idx: [0], n: 1, d });
    await assert.rejects(buffer.remove(["1.0"]), notRecord(1, "m"));
    await assert.rejects(buffer.remove(["0.0", "1.0"]), notRecord(1, "m"));
    assert.equal((await buffer.stats()).count, 3);
    assert.equal(await buffer.remove(["2.0"]), 1);
    await buffer.close();
  } finally {
    kv.close();
  }
});
