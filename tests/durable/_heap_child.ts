// Child for the paging test (run with --v8-flags=--expose-gc): fills a
// buffer with N events of 1 KB, flushes it in batches of 100 and prints the
// most heap in use after a full GC, measured inside `send`.
import { EdgeBuffer } from "../../durable.ts";

const gc = (globalThis as unknown as { gc: () => void }).gc;
const n = Number(Deno.args[0]);
const buffer = await EdgeBuffer.open<string>({ path: ":memory:", telemetry: false });
const pad = "p".repeat(1_000);
for (let i = 0; i < n; i += 1_000) {
  await Promise.all(Array.from({ length: 1_000 }, (_, j) => buffer.enqueue(`${i + j}${pad}`)));
}
gc();
const before = Deno.memoryUsage().heapUsed;
let peak = 0;
let batches = 0;
const result = await buffer.flush(() => {
  if (++batches % 10 === 0) {
    gc();
    peak = Math.max(peak, Deno.memoryUsage().heapUsed - before);
  }
  return Promise.resolve();
}, { batchSize: 100 });
await buffer.close();
console.log(JSON.stringify({ sent: result.sent, peak }));
