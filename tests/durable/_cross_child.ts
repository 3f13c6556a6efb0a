// A Deno child for the Node suite's cross-runtime tests (node_tests/durable_cross.test.mjs):
// opens a buffer file written (or to be read) by Node and runs the steps of its plan, printing
// one JSON line with each step's result, or {"error": [name, message]} when one throws.
import { EdgeBuffer } from "../../durable.ts";

type Step =
  | { enqueue: unknown[] }
  | { stats: true }
  | { peek: number }
  | { flush: number; failAfter?: number };

interface Plan {
  path: string;
  name: string;
  key?: number[];
  steps: Step[];
}

const plan = JSON.parse(Deno.args[0]!) as Plan;
const kv = await Deno.openKv(plan.path);
const results: unknown[] = [];
try {
  await using buffer = await EdgeBuffer.open({
    kv,
    name: plan.name,
    telemetry: false,
    ...(plan.key === undefined ? {} : { encryptionKey: new Uint8Array(plan.key) }),
  });
  for (const step of plan.steps) {
    if ("enqueue" in step) results.push(await buffer.enqueueMany(step.enqueue));
    else if ("stats" in step) {
      const { count, sizeBytes } = await buffer.stats();
      results.push({ count, sizeBytes });
    } else if ("peek" in step) {
      results.push((await buffer.peek(step.peek)).map((e) => [e.id, e.event]));
    } else {
      const sent: unknown[] = [];
      let batches = 0;
      const r = await buffer.flush((events) => {
        if (++batches > (step.failAfter ?? Infinity)) {
          return Promise.reject(new Error("collector away"));
        }
        sent.push(...events);
        return Promise.resolve();
      }, { batchSize: step.flush });
      results.push({ ...r, error: (r.error as Error | undefined)?.message, events: sent });
    }
  }
  console.log(JSON.stringify({ results }));
} catch (error) {
  const e = error as Error;
  console.log(JSON.stringify({ results, error: [e.name, e.message] }));
} finally {
  kv.close();
}
