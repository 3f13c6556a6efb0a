/**
 * The durable buffer on a file KV (DESIGN.md §7, issue 12):
 * - "enqueue": 10,000 concurrent enqueues, group-committed, against the
 *   same 10,000 events enqueued one after another (one commit each, the
 *   baseline); the ratio is the group commit's gain.
 * - "flush": flushing 10,000 buffered events to a no-op `send`
 *   (events/s = 10,000 / the time per iteration).
 * Run with `deno task bench` (needs --unstable-kv and file access).
 *
 * @module
 */
import { EdgeBuffer } from "../durable.ts";

const EVENTS = 10_000;
const reading = (i: number) => ({ sensor: "arm-1", t: 1_700_000_000_000 + i, celsius: 21.5 });

/** A fresh buffer in its own KV file in a temp dir, both removed after `body`. */
async function withBuffer(body: (buffer: EdgeBuffer<unknown>) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bulwark-durable-bench-" });
  const buffer = await EdgeBuffer.open({ path: `${dir}/buffer.db`, telemetry: false });
  try {
    await body(buffer);
  } finally {
    await buffer.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.bench({
  name: "enqueue 10,000 events, one commit each (awaited in turn)",
  group: "enqueue",
  baseline: true,
  // About 40 s on this machine: run once.
  n: 1,
  warmup: 0,
  async fn(b) {
    await withBuffer(async (buffer) => {
      b.start();
      for (let i = 0; i < EVENTS; i++) await buffer.enqueue(reading(i));
      b.end();
    });
  },
});

Deno.bench({
  name: "enqueue 10,000 concurrent events (group commit)",
  group: "enqueue",
  n: 20,
  warmup: 2,
  async fn(b) {
    await withBuffer(async (buffer) => {
      b.start();
      await Promise.all(Array.from({ length: EVENTS }, (_, i) => buffer.enqueue(reading(i))));
      b.end();
    });
  },
});

const noopSend = () => Promise.resolve();

Deno.bench({
  name: "flush 10,000 events to a no-op send (batches of 100)",
  group: "flush",
  n: 20,
  warmup: 2,
  async fn(b) {
    await withBuffer(async (buffer) => {
      await buffer.enqueueMany(Array.from({ length: EVENTS }, (_, i) => reading(i)));
      b.start();
      const result = await buffer.flush(noopSend);
      b.end();
      if (result.sent !== EVENTS) throw new Error(`sent ${result.sent}`);
    });
  },
});

Deno.bench({
  name: "flush 10,000 events to a no-op send (batches of 1,000)",
  group: "flush",
  n: 20,
  warmup: 2,
  async fn(b) {
    await withBuffer(async (buffer) => {
      await buffer.enqueueMany(Array.from({ length: EVENTS }, (_, i) => reading(i)));
      b.start();
      const result = await buffer.flush(noopSend, { batchSize: 1_000 });
      b.end();
      if (result.sent !== EVENTS) throw new Error(`sent ${result.sent}`);
    });
  },
});
