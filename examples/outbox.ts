/**
 * A sensor loop that must not lose readings: it publishes a reading every
 * 20 ms into a durable outbox (a Deno KV file) while its collector is
 * down, and the outbox delivers them, in order and in gzipped NDJSON
 * batches, once the collector is back. Ctrl-C (SIGINT, which Deno Deploy
 * also sends 5 s before SIGKILL) closes the outbox: one last bounded drain,
 * and whatever is left stays in the file for the next start.
 *
 * deno run --unstable-kv --allow-net=127.0.0.1 --allow-read --allow-write examples/outbox.ts [kv-file]
 *
 * Without a KV file argument it uses a temp file, removed at the end.
 */
import { gunzipSync } from "node:zlib";
import { constant, policy, systemClock } from "../mod.ts";
import { createOutbox } from "../durable.ts";

interface Reading {
  sensor: string;
  n: number;
  celsius: number;
}

// A stand-in collector on 127.0.0.1: down (503) until the sensor has taken 20 readings.
let collectorUp = false;
const received: Reading[] = [];
const collector = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const body = new Uint8Array(await req.arrayBuffer());
  if (!collectorUp) return new Response("down", { status: 503 });
  const lines = new TextDecoder().decode(gunzipSync(body)).split("\n").filter(Boolean);
  received.push(...lines.map((line) => JSON.parse(line) as Reading));
  return new Response(null, { status: 204 });
});
const url = `http://127.0.0.1:${collector.addr.port}/ingest`;

const dir = Deno.args[0] === undefined
  ? await Deno.makeTempDir({ prefix: "outbox-example-" })
  : undefined;
const path = Deno.args[0] ?? `${dir}/readings.db`;
const outbox = await createOutbox<Reading>({
  buffer: { path, name: "readings", telemetry: false },
  policy: policy("collector", {
    telemetry: false,
    attemptTimeoutMs: 1_000,
    retry: { maxAttempts: 2, backoff: constant(50) },
    circuit: { kind: "consecutive", threshold: 3, breakMs: 100 },
  }),
  send: async (batch, { signal }) => {
    const res = await fetch(url, {
      method: "POST",
      body: batch.payload as Uint8Array<ArrayBuffer>,
      headers: { "content-type": "application/x-ndjson", "content-encoding": "gzip" },
      signal,
    });
    await res.body?.cancel();
    if (!res.ok) {
      throw Object.assign(new Error(`collector: HTTP ${res.status}`), { status: res.status });
    }
  },
  batch: { maxBatchSize: 10, compressionLevel: 6 },
  flushIntervalMs: 50,
});

// On Deploy (SIGINT, then SIGKILL 5 s later) and on Ctrl-C: stop publishing and close the
// outbox (one last drain of at most 4 s); what it cannot deliver stays in the KV file.
const stop = new AbortController();
const onSigint = () => stop.abort();
Deno.addSignalListener("SIGINT", onSigint);
const sleep = (ms: number) => systemClock.sleep(ms, stop.signal).catch(() => {});

console.log(`publishing readings to ${path}`);
for (let n = 0; n < 30 && !stop.signal.aborted; n++) {
  await outbox.publish({ sensor: "arm-1", n, celsius: 21 + Math.sin(n / 5) });
  if (n === 19) {
    const { buffer } = await outbox.stats();
    console.log(`collector down: ${buffer.count} of 20 readings waiting in the outbox`);
    collectorUp = true;
  }
  await sleep(20);
}

// Wait for the outbox to catch up (unless interrupted), then close it.
while (!stop.signal.aborted && (await outbox.stats()).buffer.count > 0) await sleep(20);
await outbox.drain(); // joins a drain that is still counting
const stats = await outbox.stats();
await outbox.close();
Deno.removeSignalListener("SIGINT", onSigint);
await collector.shutdown();
if (dir !== undefined) await Deno.remove(dir, { recursive: true });

if (stop.signal.aborted) {
  console.log(`interrupted: ${stats.buffer.count} readings left in the outbox for the next start`);
  Deno.exit(130);
}
const inOrder = received.every((r, i) => i === 0 || r.n > received[i - 1]!.n);
console.log(
  `delivered ${stats.sent} readings in ${stats.batches} batches after ${stats.failedSends} failed sends`,
);
console.log(`collector received ${received.length} readings, in order: ${inOrder}`);
