import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { rawCounters, rawRecords, startWriter, tempKvPath } from "./_kv.ts";

type Event = { writer: string; seq: number; pad: string };

async function readAll(path: string): Promise<Event[]> {
  await using buffer = await EdgeBuffer.open<Event>({ path, name: "crash", telemetry: false });
  return (await buffer.peek(1_000_000)).map((e) => e.event);
}

Deno.test("EdgeBuffer: two processes on one KV file keep each writer's FIFO order and lose nothing", async () => {
  const { path, cleanup } = await tempKvPath();
  try {
    const a = startWriter({ path, writer: "a", start: 0, count: 600, concurrency: 8 });
    const b = startWriter({ path, writer: "b", start: 0, count: 600, concurrency: 8 });
    for (const w of [a, b]) {
      const { code, stderr } = await w.done();
      assert.equal(code, 0, stderr);
      assert.equal(w.lines.filter((l) => l.startsWith("ok ")).length, 600);
    }
    const events = await readAll(path);
    assert.equal(events.length, 1_200);
    for (const writer of ["a", "b"]) {
      const seqs = events.filter((e) => e.writer === writer).map((e) => e.seq);
      assert.deepEqual(seqs, Array.from({ length: 600 }, (_, i) => i), `writer ${writer}`);
    }
    // The two writers really interleaved (commit order across processes).
    const switches = events.filter((e, i) => i > 0 && e.writer !== events[i - 1]!.writer).length;
    assert.ok(switches >= 2, `${switches} switches between writers`);
    const kv = await Deno.openKv(path);
    try {
      const raw = await rawRecords(kv, "crash");
      assert.deepEqual(await rawCounters(kv, "crash"), {
        count: raw.length,
        bytes: raw.reduce((sum, r) => sum + r.size, 0),
      });
    } finally {
      kv.close();
    }
  } finally {
    await cleanup();
  }
});

Deno.test("EdgeBuffer: two processes filling one maxSizeBytes never over-admit; stored == acknowledged", async () => {
  const { path, cleanup } = await tempKvPath();
  const maxSizeBytes = 20_000;
  try {
    const writers = ["a", "b"].map((writer) =>
      startWriter({ path, writer, start: 0, count: 800, concurrency: 10, maxSizeBytes })
    );
    for (const w of writers) {
      const { code, stderr } = await w.done();
      assert.equal(code, 0, stderr);
    }
    const ok = new Set(writers.flatMap((w) => w.lines.filter((l) => l.startsWith("ok "))));
    const full = writers.flatMap((w) => w.lines.filter((l) => l.startsWith("full ")));
    assert.ok(full.length > 0, "the buffer filled up");
    assert.equal(ok.size + full.length, 1_600);
    const events = await readAll(path);
    // Exactly the events acknowledged with true are stored, the refused ones are not.
    assert.deepEqual(
      new Set(events.map((e) => `ok ${e.writer} ${e.seq}`)),
      ok,
    );
    const kv = await Deno.openKv(path);
    try {
      const raw = await rawRecords(kv, "crash");
      const bytes = raw.reduce((sum, r) => sum + r.size, 0);
      assert.ok(bytes <= maxSizeBytes, `${bytes} stored bytes`);
      assert.ok(bytes > maxSizeBytes - 100, `${bytes} stored bytes: the buffer was filled`);
      assert.deepEqual(await rawCounters(kv, "crash"), { count: raw.length, bytes });
    } finally {
      kv.close();
    }
  } finally {
    await cleanup();
  }
});
