// @bulwark/bulwark/durable on Node: EdgeBuffer and the outbox on a KV file opened with npm
// @deno/kv (the package never imports it: the user passes `kv`). Every KV file lives in a temp
// dir removed after its test; the HTTP collector listens on 127.0.0.1 and is closed after.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { KvU64, openKv } from "@deno/kv";
import { constant, policy, RetryExhaustedError } from "@bulwark/bulwark";
import {
  BufferDecryptError,
  createOutbox,
  EdgeBuffer,
  MAX_EVENT_BYTES,
} from "@bulwark/bulwark/durable";
import { VirtualClock } from "@bulwark/bulwark/testing";

/** A temp dir with a KV file path; the dir is removed (and opened KVs closed) after the test. */
async function tempDb(t) {
  const dir = await mkdtemp(join(tmpdir(), "bulwark-node-durable-"));
  const opened = [];
  t.after(async () => {
    for (const kv of opened) kv.close();
    await rm(dir, { recursive: true, force: true });
  });
  const path = join(dir, "buffer.db");
  return {
    path,
    /** Opens the file with @deno/kv; closed after the test unless closed before. */
    async open() {
      const kv = await openKv(path);
      opened.push(kv);
      return {
        kv,
        close() {
          opened.splice(opened.indexOf(kv), 1);
          kv.close();
        },
      };
    },
  };
}

/** Records buffer events as [type, reason, count]. */
function recorder() {
  const events = [];
  return {
    events,
    onEvent: (e) => {
      if (e.type === "buffer_dropped") events.push([e.type, e.reason, e.count]);
      else if (e.type === "buffer_flushed") events.push([e.type, e.count]);
    },
  };
}

/** The stored counters of buffer `name`, as @deno/kv returns them. */
async function rawCounters(kv, name) {
  const keys = ["count", "bytes", "next"].map((
    k,
  ) => ["bulwark", "buffer", name, k]);
  const entries = await kv.getMany(keys);
  for (const e of entries) {
    assert.ok(e.value instanceof KvU64, `${e.key.join("/")} is a KvU64`);
  }
  const [count, bytes, next] = entries.map((e) => Number(e.value.value));
  return { count, bytes, next };
}

test("EdgeBuffer on a @deno/kv file: concurrent enqueues, FIFO ids, counters, found again after reopening", async (t) => {
  const db = await tempDb(t);
  const first = await db.open();
  const buffer = await EdgeBuffer.open({
    kv: first.kv,
    name: "readings",
    telemetry: false,
  });
  // 50 concurrent enqueues share one group commit: one record, ids 0.0 ... 0.49.
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, n) => buffer.enqueue({ n })),
  );
  assert.deepEqual(results, Array(50).fill(true));
  // Then 5 one at a time: one commit (one record) each.
  for (let n = 50; n < 55; n++) assert.equal(await buffer.enqueue({ n }), true);
  const peeked = await buffer.peek(100);
  assert.deepEqual(
    peeked.map((e) => e.event.n),
    Array.from({ length: 55 }, (_, n) => n),
  );
  assert.deepEqual(peeked.slice(48, 52).map((e) => e.id), [
    "0.48",
    "0.49",
    "1.0",
    "2.0",
  ]);
  assert.equal(peeked[0].sizeBytes, 7); // {"n":0} as UTF-8
  const stats = await buffer.stats();
  assert.equal(stats.count, 55);
  assert.equal(stats.sizeBytes, 10 * 7 + 45 * 8);
  assert.equal(stats.enqueued, 55);
  // The counters are @deno/kv's own KvU64, moved by atomic sum.
  assert.deepEqual(await rawCounters(first.kv, "readings"), {
    count: 55,
    bytes: 430,
    next: 6,
  });
  await buffer.close();
  first.close();

  // A new process would open the file again: the same events, same order, same ids.
  const second = await db.open();
  const again = await EdgeBuffer.open({
    kv: second.kv,
    name: "readings",
    telemetry: false,
  });
  const reread = await again.peek(100);
  assert.deepEqual(
    reread.map((e) => [e.id, e.event.n]),
    peeked.map((e) => [e.id, e.event.n]),
  );
  assert.equal(await again.remove(["0.0", "0.1", "6.0"]), 2); // 6.0 does not exist
  assert.equal((await again.stats()).count, 53);
  assert.deepEqual(await rawCounters(second.kv, "readings"), {
    count: 53,
    bytes: 416,
    next: 6,
  });
  await again.close();
});

test('EdgeBuffer size limits on @deno/kv: "reject" refuses when full, "drop_oldest" evicts, an event above MAX_EVENT_BYTES is a RangeError', async (t) => {
  const db = await tempDb(t);
  const { kv } = await db.open();
  const rejecting = recorder();
  const full = await EdgeBuffer.open({
    kv,
    name: "reject",
    maxSizeBytes: 30,
    telemetry: false,
    onEvent: rejecting.onEvent,
  });
  const results = [];
  for (const c of "abcd") results.push(await full.enqueue(c.repeat(8))); // 10 bytes each
  assert.deepEqual(results, [true, true, true, false]);
  assert.deepEqual(rejecting.events, [["buffer_dropped", "full", 1]]);
  assert.deepEqual(await rawCounters(kv, "reject"), {
    count: 3,
    bytes: 30,
    next: 3,
  });
  await full.close();

  const evicting = recorder();
  const ring = await EdgeBuffer.open({
    kv,
    name: "ring",
    maxSizeBytes: 30,
    onFull: "drop_oldest",
    telemetry: false,
    onEvent: evicting.onEvent,
  });
  for (const c of "abcde") assert.equal(await ring.enqueue(c.repeat(8)), true);
  assert.equal(await ring.enqueue("f".repeat(18)), true); // 20 bytes: evicts two more
  assert.deepEqual((await ring.peek(10)).map((e) => e.event), [
    "eeeeeeee",
    "f".repeat(18),
  ]);
  assert.deepEqual(evicting.events, [
    ["buffer_dropped", "evicted", 1],
    ["buffer_dropped", "evicted", 1],
    ["buffer_dropped", "evicted", 2],
  ]);
  const stats = await ring.stats();
  assert.deepEqual([
    stats.count,
    stats.sizeBytes,
    stats.enqueued,
    stats.dropped,
  ], [2, 30, 6, 4]);
  assert.equal(await ring.enqueue("g".repeat(40)), false); // larger than the whole buffer
  await ring.close();

  // A large event is split across KV values (64 KiB each at most) in one atomic.
  const large = await EdgeBuffer.open({ kv, name: "large", telemetry: false });
  const big = "x".repeat(300_000);
  assert.equal(await large.enqueue(big), true);
  const [entry] = await large.peek(1);
  assert.equal(entry.event, big);
  assert.equal(entry.sizeBytes, 300_002);
  assert.equal(await large.enqueue("y".repeat(MAX_EVENT_BYTES - 2)), true);
  await assert.rejects(large.enqueue("z".repeat(MAX_EVENT_BYTES - 1)), {
    name: "RangeError",
    message: "event must be at most 786432 bytes once stored: received 786433 bytes",
  });
  assert.equal((await large.stats()).sizeBytes, 300_002 + MAX_EVENT_BYTES);
  await large.close();
});

test("EdgeBuffer encryption on @deno/kv: stored values hold no plaintext, the key round-trips, a wrong key is a BufferDecryptError", async (t) => {
  const db = await tempDb(t);
  const { kv } = await db.open();
  const key = new Uint8Array(32).map((_, i) => i);
  const secret = "card 4111-1111-1111-1111";
  const buffer = await EdgeBuffer.open({
    kv,
    name: "pay",
    encryptionKey: key,
    telemetry: false,
  });
  assert.equal(await buffer.enqueue({ secret }), true);
  // 37 bytes of JSON + a 12-byte IV + a 16-byte tag.
  assert.equal((await buffer.peek(1))[0].sizeBytes, 37 + 12 + 16);
  await buffer.close();
  const stored = [];
  for await (
    const e of kv.list({ prefix: ["bulwark", "buffer", "pay", "r"] })
  ) stored.push(e);
  assert.equal(stored.length, 1);
  assert.ok(stored[0].value instanceof Uint8Array, "a record is stored as bytes");
  const raw = Buffer.from(stored[0].value).toString("latin1");
  assert.equal(
    raw.includes("4111"),
    false,
    "no plaintext in the stored record",
  );

  // The same key as an AES-GCM CryptoKey (Node's WebCrypto) reads it back.
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    key,
    "AES-GCM",
    false,
    [
      "encrypt",
      "decrypt",
    ],
  );
  const same = await EdgeBuffer.open({
    kv,
    name: "pay",
    encryptionKey: cryptoKey,
    telemetry: false,
  });
  assert.deepEqual((await same.peek(1)).map((e) => [e.id, e.event]), [["0.0", {
    secret,
  }]]);
  await same.close();
  const wrong = await EdgeBuffer.open({
    kv,
    name: "pay",
    encryptionKey: new Uint8Array(32).fill(7),
    telemetry: false,
  });
  await assert.rejects(
    wrong.peek(),
    (e) => e instanceof BufferDecryptError && e.id === "0.0",
  );
  await assert.rejects(
    wrong.flush(() => Promise.resolve()),
    BufferDecryptError,
  );
  await wrong.close();
});

test("EdgeBuffer on @deno/kv expires events strictly older than maxAgeMs, in virtual time", async (t) => {
  const db = await tempDb(t);
  const { kv } = await db.open();
  const clock = new VirtualClock(1_000);
  const rec = recorder();
  const buffer = await EdgeBuffer.open({
    kv,
    maxAgeMs: 5_000,
    clock,
    telemetry: false,
    onEvent: rec.onEvent,
  });
  assert.equal(await buffer.enqueue("old"), true);
  await clock.advance(3_000);
  assert.equal(await buffer.enqueue("new"), true);
  await clock.advance(2_000); // "old" is exactly 5,000 ms old: kept
  assert.deepEqual((await buffer.peek(10)).map((e) => e.event), ["old", "new"]);
  await clock.advance(1);
  assert.deepEqual((await buffer.peek(10)).map((e) => e.event), ["new"]);
  assert.deepEqual(rec.events, [["buffer_dropped", "expired", 1]]);
  const stats = await buffer.stats();
  assert.deepEqual([stats.count, stats.expired, stats.oldestEnqueuedAt], [
    1,
    1,
    4_000,
  ]);
  await buffer.close();
});

/** A collector on 127.0.0.1 that answers 503 to the requests numbered in `failing` (1-based). */
async function collector(t, failing) {
  const received = { requests: 0, batches: [], events: [] };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      received.requests++;
      if (failing.has(received.requests)) {
        res.writeHead(503).end();
        return;
      }
      const lines = gunzipSync(Buffer.concat(chunks)).toString("utf8").trim()
        .split("\n");
      received.batches.push({
        id: req.headers["x-batch-id"],
        ids: req.headers["x-ids"],
      });
      received.events.push(...lines.map((l) => JSON.parse(l)));
      res.writeHead(204).end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${server.address().port}/ingest`, received };
}

test("outbox on @deno/kv flushes to a node:http collector: in order, a failed batch stays, exact counts", async (t) => {
  const db = await tempDb(t);
  const { kv } = await db.open();
  // Request 1 fails (the policy retries it as request 2); requests 3 and 4 fail (a drain gives
  // up on its first batch after two attempts and leaves everything buffered).
  const { url, received } = await collector(t, new Set([1, 3, 4]));
  const clock = new VirtualClock();
  const outbox = await createOutbox({
    buffer: { kv, name: "readings", telemetry: false },
    policy: policy("collector", {
      telemetry: false,
      retry: { maxAttempts: 2, backoff: constant(0) },
    }),
    send: async (batch, { signal }) => {
      const response = await fetch(url, {
        method: "POST",
        body: batch.payload,
        headers: {
          "content-encoding": "gzip",
          "x-batch-id": batch.id,
          "x-ids": batch.ids.join(","),
        },
        signal,
      });
      await response.body?.cancel();
      if (!response.ok) {
        throw new Error(`collector answered ${response.status}`);
      }
    },
    batch: { maxBatchSize: 10 },
    flushIntervalMs: 3_600_000, // the test drains by hand
    clock,
  });
  for (let n = 0; n < 25; n++) assert.equal(await outbox.publish({ n }), true);

  const firstDrain = await outbox.drain();
  assert.deepEqual(firstDrain, {
    sent: 10,
    batches: 1,
    remaining: 15,
    error: firstDrain.error,
  });
  assert.ok(firstDrain.error instanceof RetryExhaustedError);
  assert.equal(
    firstDrain.error.message,
    'policy "collector" gave up after 2 attempts (max_attempts: 2)',
  );
  assert.equal(firstDrain.error.cause.message, "collector answered 503");
  assert.equal(received.requests, 4);
  assert.deepEqual(received.batches, [{
    id: "0.0-9.0",
    ids: "0.0,1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0,9.0",
  }]);

  const secondDrain = await outbox.drain();
  assert.deepEqual(secondDrain, { sent: 15, batches: 2, remaining: 0 });
  assert.equal(received.requests, 6);
  assert.deepEqual(received.batches.map((b) => b.id), [
    "0.0-9.0",
    "10.0-19.0",
    "20.0-24.0",
  ]);
  assert.deepEqual(
    received.events.map((e) => e.n),
    Array.from({ length: 25 }, (_, n) => n),
  );

  const stats = await outbox.stats();
  assert.deepEqual(
    [
      stats.sent,
      stats.batches,
      stats.failedSends,
      stats.buffer.count,
      stats.buffer.flushed,
    ],
    [25, 3, 1, 0, 25],
  );
  await outbox.close();
});

test("without Deno.openKv (Node) a path or no kv is a TypeError asking for kv; a non-KV kv is named", async () => {
  await assert.rejects(EdgeBuffer.open({ path: "buffer.db" }), {
    name: "TypeError",
    message:
      "kv must be given where Deno.openKv is missing (Node, or Deno without --unstable-kv): " +
      'received path "buffer.db"; pass an open KV, e.g. kv: await openKv(path) from npm @deno/kv',
  });
  await assert.rejects(EdgeBuffer.open({ telemetry: false }), {
    name: "TypeError",
    message:
      "kv must be given where Deno.openKv is missing (Node, or Deno without --unstable-kv): " +
      "received neither path nor kv; pass an open KV, e.g. kv: await openKv(path) from npm @deno/kv",
  });
  await assert.rejects(EdgeBuffer.open({ kv: new Map() }), {
    name: "TypeError",
    message: "kv must be an open KV (Deno.Kv, or Kv of npm @deno/kv): received {}",
  });
  await assert.rejects(
    createOutbox({ buffer: { path: "x.db" }, send: async () => {} }),
    {
      name: "TypeError",
      message: /^buffer\.kv must be given where Deno\.openKv is missing/,
    },
  );
});

/**
 * Runs the ```js block of the "On Node" section of `doc` (docs/) as written, in a child Node
 * process resolving packages from node_tests/; resolves with its exit code and stderr.
 */
async function runDocExample(doc, env = {}) {
  const text = await readFile(
    new URL(`../docs/${doc}`, import.meta.url),
    "utf8",
  );
  const section = text.slice(text.indexOf("\n## On Node\n"));
  const code = /```js ignore\n([\s\S]*?)\n```/.exec(section)?.[1];
  assert.ok(code, `docs/${doc} has an On Node example`);
  const child = spawn(process.execPath, ["--input-type=module", "-e", code], {
    cwd: fileURLToPath(new URL(".", import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 30_000, // a hung example is killed (and fails) rather than holding the suite
  });
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const [exitCode] = await once(child, "exit");
  return { exitCode, stderr };
}

test("the On Node example of docs/durable.md runs as written", async () => {
  assert.deepEqual(await runDocExample("durable.md"), {
    exitCode: 0,
    stderr: "",
  });
});
