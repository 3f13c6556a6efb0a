import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { seededRandom } from "../../src/core/random.ts";
import { idBefore, rawCounters, rawRecords, startWriter, tempKvPath } from "./_kv.ts";

const KEY = Array.from({ length: 32 }, (_, i) => i * 7 % 256);

Deno.test("EdgeBuffer: SIGKILLed writers lose no acknowledged event and leave no partial record (10 cycles)", async () => {
  const { path, cleanup } = await tempKvPath();
  const random = seededRandom(12);
  const acked: number[] = [];
  let next = 0;
  try {
    for (let cycle = 0; cycle < 10; cycle++) {
      // Groups of 16 concurrent enqueues; every 37th event spans three KV values.
      const writer = startWriter({
        path,
        writer: "w",
        start: next,
        count: 100_000,
        concurrency: 16,
        bigEvery: 37,
        key: KEY,
      });
      // Kill at a random moment: after 1 to 400 acknowledgements.
      await writer.waitFor(1 + Math.floor(random() * 400));
      await writer.kill();
      const ok = writer.lines.filter((l) => l.startsWith("ok ")).map((l) =>
        Number(l.split(" ")[2])
      );
      assert.ok(ok.length > 0, `cycle ${cycle}: the writer acknowledged nothing`);
      acked.push(...ok);

      // Reopen the file: every acknowledged event is there exactly once, in order.
      await using buffer = await EdgeBuffer.open<{ seq: number; pad: string }>({
        path,
        name: "crash",
        telemetry: false,
        encryptionKey: new Uint8Array(KEY),
      });
      const stored = await buffer.peek(1_000_000);
      const seqs = stored.map((e) => e.event.seq);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, "FIFO order");
      for (let i = 1; i < stored.length; i++) {
        assert.ok(idBefore(stored[i - 1]!.id, stored[i]!.id), "ids in commit order");
      }
      const present = new Set(seqs);
      assert.equal(present.size, seqs.length, "no event stored twice");
      for (const seq of acked) assert.ok(present.has(seq), `acknowledged event ${seq} is missing`);
      for (const e of stored) {
        assert.equal(e.event.pad.length, e.event.seq % 37 === 0 ? 150_000 : e.event.seq % 40);
      }
      // The counters equal the records, recomputed from the raw KV entries.
      const kv = await Deno.openKv(path);
      try {
        const raw = await rawRecords(kv, "crash");
        assert.equal(raw.length, stored.length);
        const counters = await rawCounters(kv, "crash");
        const bytes = raw.reduce((sum, r) => sum + r.size, 0);
        assert.deepEqual(counters, { count: raw.length, bytes });
        const stats = await buffer.stats();
        assert.equal(stats.count, raw.length);
        assert.equal(stats.sizeBytes, bytes);
        assert.equal(stored.reduce((sum, e) => sum + e.sizeBytes, 0), bytes);
      } finally {
        kv.close();
      }
      next = Math.max(next, ...seqs) + 1;
    }
    assert.ok(acked.length >= 10);
  } finally {
    await cleanup();
  }
});
