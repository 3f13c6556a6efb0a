// A child process for the crash and multi-writer tests: enqueues events into
// a buffer file in groups of `concurrency`, printing one line per enqueue
// after it resolved: "ok <writer> <seq>" or "full <writer> <seq>".
import { EdgeBuffer } from "../../durable.ts";

interface Plan {
  path: string;
  writer: string;
  start: number;
  count: number;
  concurrency: number;
  maxSizeBytes?: number;
  bigEvery?: number;
  key?: number[];
}

const plan = JSON.parse(Deno.args[0]!) as Plan;
const buffer = await EdgeBuffer.open<{ writer: string; seq: number; pad: string }>({
  path: plan.path,
  name: "crash",
  telemetry: false,
  ...(plan.maxSizeBytes === undefined ? {} : { maxSizeBytes: plan.maxSizeBytes }),
  ...(plan.key === undefined ? {} : { encryptionKey: new Uint8Array(plan.key) }),
});
const out = Deno.stdout.writable.getWriter();
const encoder = new TextEncoder();
let seq = plan.start;
const end = plan.start + plan.count;
while (seq < end) {
  const group: Promise<void>[] = [];
  for (let i = 0; i < plan.concurrency && seq < end; i++, seq++) {
    const n = seq;
    // Every `bigEvery`-th event spans several KV values (150,000 bytes).
    const big = plan.bigEvery !== undefined && n % plan.bigEvery === 0;
    const pad = big ? "b".repeat(150_000) : "s".repeat(n % 40);
    group.push(
      buffer.enqueue({ writer: plan.writer, seq: n, pad }).then((ok) =>
        out.write(encoder.encode(`${ok ? "ok" : "full"} ${plan.writer} ${n}\n`))
      ),
    );
  }
  await Promise.all(group);
}
await buffer.close();
await out.close();
