import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { policy } from "../../mod.ts";
import { type Batch, createOutbox, EdgeBuffer } from "../../durable.ts";
import { systemClock } from "../../src/core/clock.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { loose } from "../_helpers.ts";

interface Reading {
  n: number;
  celsius: number;
}

type Mode = "503" | "reset" | "hang" | "ok";

/**
 * A collector on 127.0.0.1 that answers its requests as `script` says
 * (then "ok"). It records a delivery when it processed a batch: on "ok",
 * and on "hang" (processed, but the answer never comes).
 */
function collector(script: Mode[]) {
  const deliveries: Array<{ ids: string[]; events: Reading[]; mode: Mode }> = [];
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const mode = script[requests++] ?? "ok";
    const body = new Uint8Array(await req.arrayBuffer());
    if (mode === "503") return new Response("collector down", { status: 503 });
    if (mode === "reset") {
      // Headers go out, then the connection breaks mid-body.
      return new Response(new ReadableStream({ start: (c) => c.error(new Error("reset")) }));
    }
    const text = new TextDecoder().decode(
      req.headers.get("x-compression") === "gzip" ? gunzipSync(body) : body,
    );
    const events = text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as Reading);
    const ids = JSON.parse(req.headers.get("x-ids")!) as string[];
    assert.equal(ids.length, events.length);
    deliveries.push({ ids, events, mode });
    if (mode === "hang") {
      await new Promise((resolve) => req.signal.addEventListener("abort", resolve));
      return new Response(null, { status: 504 });
    }
    return new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/ingest`,
    deliveries,
    requests: () => requests,
    close: () => server.shutdown(),
  };
}

/** POSTs a batch; a non-2xx answer or a broken connection rejects. */
function httpSend(url: string) {
  return async (batch: Batch<Reading>, { signal }: { signal: AbortSignal }) => {
    const res = await fetch(url, {
      method: "POST",
      body: batch.payload as Uint8Array<ArrayBuffer>,
      headers: {
        "content-type": "application/x-ndjson",
        "x-compression": batch.compression,
        "x-ids": JSON.stringify(batch.ids),
      },
      signal,
    });
    await res.arrayBuffer();
    if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { status: res.status });
  };
}

/** Waits (real time, 1 ms steps) until the tick's KV work is done. */
async function until(done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 5_000; i++) {
    if (await done()) return;
    await systemClock.sleep(1);
  }
  throw new Error("condition not reached");
}

/** Checks at-least-once delivery: returns the duplicated deliveries' size. */
function checkDelivered(
  deliveries: Array<{ ids: string[]; events: Reading[] }>,
  published: number,
): number {
  const firstSeen: Reading[] = [];
  const idOf = new Map<number, string>();
  let duplicates = 0;
  for (const d of deliveries) {
    d.events.forEach((e, i) => {
      const id = d.ids[i]!;
      if (idOf.has(e.n)) {
        assert.equal(idOf.get(e.n), id, `reading ${e.n} came back under another id`);
        duplicates++;
      } else {
        idOf.set(e.n, id);
        firstSeen.push(e);
      }
    });
  }
  // Every published event, in order; ids distinct.
  assert.deepEqual(firstSeen.map((e) => e.n), Array.from({ length: published }, (_, i) => i));
  assert.equal(new Set(idOf.values()).size, published);
  return duplicates;
}

Deno.test("EdgeBuffer.flush() through a policy against a real collector that fails (503, reset) then recovers", async () => {
  const server = collector(["503", "reset", "503", "503", "503"]);
  try {
    await using buffer = await EdgeBuffer.open<Reading>({ path: ":memory:", telemetry: false });
    for (let n = 0; n < 25; n++) await buffer.enqueue({ n, celsius: 20 + n / 10 });
    const send = httpSend(server.url);
    const p = policy("collector", {
      telemetry: false,
      retry: { maxAttempts: 2, backoff: () => 0 },
    });
    const flushBatch = (
      events: Reading[],
      { ids, signal }: { ids: string[]; signal: AbortSignal },
    ) =>
      send(
        {
          events,
          ids,
          payload: new TextEncoder().encode(events.map((e) => JSON.stringify(e) + "\n").join("")),
          compression: "none",
        } as Batch<Reading>,
        { signal },
      );
    // 503 then reset: the policy gives up on batch 1; nothing is removed.
    const first = await buffer.flush(flushBatch, { batchSize: 10, policy: p });
    assert.deepEqual([first.sent, first.batches, first.remaining], [0, 0, 25]);
    assert.ok(first.error instanceof Error);
    // 503, 503: gives up again; then 503, ok: delivered, and so are the rest.
    assert.equal((await buffer.flush(flushBatch, { batchSize: 10, policy: p })).sent, 0);
    const third = await buffer.flush(flushBatch, { batchSize: 10, policy: p });
    assert.deepEqual(third, { sent: 25, batches: 3, remaining: 0 });
    assert.equal(server.requests(), 8);
    assert.equal(checkDelivered(server.deliveries, 25), 0, "no duplicates");
  } finally {
    await server.close();
  }
});

Deno.test("createOutbox against a real collector: 503s, a reset and a hang, then recovery; every event delivered in order", async () => {
  // 6 failures: 503 x3 (circuit opens), 503 (probe), reset (probe), hang (probe; processed!).
  const server = collector(["503", "503", "503", "503", "reset", "hang"]);
  const kv = await Deno.openKv(":memory:");
  try {
    const p = policy("collector", {
      telemetry: false,
      attemptTimeoutMs: 250, // cuts the hang; generous, so a slow answer on a loaded machine is no failure
      retry: { maxAttempts: 1 },
      circuit: { kind: "consecutive", threshold: 3, breakMs: 30 },
    });
    const outbox = await createOutbox<Reading>({
      buffer: { kv, name: "readings", telemetry: false },
      send: httpSend(server.url),
      policy: p,
      batch: { maxBatchSize: 10, compressionLevel: 9 },
      flushIntervalMs: 5,
    });
    for (let n = 0; n < 30; n++) assert.equal(await outbox.publish({ n, celsius: 20 }), true);
    // Publish the rest while the outbox is failing.
    while (server.requests() < 2) await systemClock.sleep(2);
    await Promise.all(
      Array.from({ length: 30 }, (_, i) => outbox.publish({ n: 30 + i, celsius: 21 })),
    );
    // (`sent` counts a drain when it ends: the buffer may be empty a moment before.)
    for (let i = 0; i < 2_000 && (await outbox.stats()).sent < 60; i++) {
      await systemClock.sleep(5);
    }
    const stats = await outbox.stats();
    await outbox.close();
    assert.equal(stats.buffer.count, 0);
    assert.equal(stats.sent, 60);
    assert.ok(stats.failedSends >= 6, `${stats.failedSends} failed sends`);
    // The circuit held the outbox back: 6 failures, not one per 5 ms tick.
    assert.equal(server.requests(), 6 + stats.batches);
    // The hung batch was processed but never acknowledged: it is the only duplicate.
    const hung = server.deliveries.filter((d) => d.mode === "hang");
    assert.equal(hung.length, 1);
    const duplicates = checkDelivered(server.deliveries, 60);
    assert.equal(duplicates, hung[0]!.ids.length);
    assert.equal(duplicates, 10);
  } finally {
    kv.close();
    await server.close();
  }
});

Deno.test("createOutbox drains every flushIntervalMs and waits while the policy's circuit is open (virtual time)", async () => {
  const clock = new VirtualClock();
  const kv = await Deno.openKv(":memory:");
  try {
    const p = policy("collector", {
      telemetry: false,
      clock,
      retry: { maxAttempts: 1 },
      circuit: { kind: "consecutive", threshold: 1, breakMs: 10_000 },
    });
    let down = false;
    const sent: Batch<number>[] = [];
    let attempts = 0;
    const outbox = await createOutbox<number>({
      buffer: { kv, telemetry: false, clock },
      send: (batch) => {
        attempts++;
        if (down) return Promise.reject(Object.assign(new Error("down"), { status: 503 }));
        sent.push(batch);
        return Promise.resolve();
      },
      policy: p,
      clock,
    });
    await outbox.publish(1);
    await outbox.publish(2);
    await clock.advance(999);
    assert.equal(attempts, 0);
    await clock.advance(1);
    await until(async () => (await outbox.stats()).sent === 2);
    assert.deepEqual(sent.map((b) => [b.id, b.events, b.ids, b.createdAt]), [
      ["0.0-1.0", [1, 2], ["0.0", "1.0"], 1_000],
    ]);
    down = true;
    await outbox.publish(3);
    await clock.advance(1_000);
    await until(async () => (await outbox.stats()).failedSends === 1);
    assert.deepEqual(await outbox.stats().then((s) => [s.sent, s.failedSends, s.buffer.count]), [
      2,
      1,
      1,
    ]);
    assert.equal(attempts, 2);
    assert.equal(p.circuit!.state, "open");
    down = false;
    // Open until 12,000: the ticks at 3,000 ... 11,000 send nothing.
    await clock.advance(9_999);
    assert.equal(attempts, 2);
    await clock.advance(1);
    await until(async () => (await outbox.stats()).sent === 3);
    assert.equal(attempts, 3);
    assert.deepEqual(sent.at(-1)!.events, [3]);
    assert.equal(p.circuit!.state, "closed");
    assert.deepEqual(await outbox.stats().then((s) => [s.sent, s.batches, s.failedSends]), [
      3,
      2,
      1,
    ]);
    await outbox.publish(4);
    await outbox.close(); // the last drain delivers it
    assert.deepEqual(sent.at(-1)!.events, [4]);
    assert.equal(clock.pending, 0);
  } finally {
    kv.close();
  }
});

Deno.test("createOutbox close() bounds its last drain by closeTimeoutMs and leaves the rest for the next start", async () => {
  const clock = new VirtualClock();
  let started = false;
  const kv = await Deno.openKv(":memory:");
  try {
    const outbox = await createOutbox<number>({
      buffer: { kv, telemetry: false },
      send: (_batch, { signal }) => {
        started = true;
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        );
      },
      closeTimeoutMs: 500,
      clock,
    });
    await outbox.publish(7);
    let closed = false;
    const closing = outbox.close().then(() => (closed = true));
    while (!started) await systemClock.sleep(1);
    await clock.advance(499);
    assert.equal(closed, false);
    await clock.advance(1);
    await closing;
    assert.equal(clock.now(), 500);
    await using next = await EdgeBuffer.open<number>({ kv, telemetry: false });
    assert.deepEqual((await next.peek()).map((e) => e.event), [7]);
  } finally {
    kv.close();
  }
});

Deno.test("createOutbox close() during the loop's drain: the send in progress is aborted closeTimeoutMs after close(), nothing is lost (virtual time)", async () => {
  const clock = new VirtualClock();
  let sends = 0;
  const kv = await Deno.openKv(":memory:");
  try {
    const outbox = await createOutbox<number>({
      buffer: { kv, telemetry: false },
      send: (_batch, { signal }) => {
        sends++;
        // Never answers; honours its signal (as fetch does).
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        );
      },
      flushIntervalMs: 100,
      closeTimeoutMs: 500,
      clock,
    });
    await outbox.publish(7);
    await clock.advance(100); // the loop's drain starts and hangs in send
    while (sends === 0) await systemClock.sleep(1);
    await clock.advance(1_000); // still hanging
    let closed = false;
    const closing = outbox.close().then(() => (closed = true));
    await clock.advance(499);
    assert.equal(closed, false);
    await clock.advance(1);
    await closing;
    assert.equal(clock.now(), 1_600);
    assert.equal(sends, 1); // the bound was spent: no last drain
    const stats = await outbox.stats().catch(() => undefined);
    assert.equal(stats, undefined); // the buffer it opened is closed
    await using next = await EdgeBuffer.open<number>({ kv, telemetry: false });
    assert.deepEqual((await next.peek()).map((e) => e.event), [7]);
  } finally {
    kv.close();
  }
});

Deno.test("createOutbox close() during a long healthy drain (slow collector): bounded by closeTimeoutMs, the rest stays (virtual time)", async () => {
  const clock = new VirtualClock();
  let sends = 0;
  const kv = await Deno.openKv(":memory:");
  try {
    const outbox = await createOutbox<number>({
      buffer: { kv, telemetry: false },
      policy: policy("collector", {
        telemetry: false,
        clock,
        attemptTimeoutMs: 1_000,
        retry: { maxAttempts: 1 },
      }),
      send: (_batch, { signal }) => {
        sends++;
        // Every batch is answered after 100 ms.
        return new Promise((resolve, reject) => {
          const timer = clock.setTimer(() => resolve(undefined), 100);
          signal.addEventListener("abort", () => {
            clock.clearTimer(timer);
            reject(signal.reason);
          });
        });
      },
      batch: { maxBatchSize: 100 },
      flushIntervalMs: 5,
      closeTimeoutMs: 250,
      clock,
    });
    await Promise.all(Array.from({ length: 3_000 }, (_, n) => outbox.publish(n)));
    await clock.advance(5);
    while (sends === 0) await systemClock.sleep(1);
    let closed = false;
    const closing = outbox.close().then(() => (closed = true));
    // Batch n is sent at 5 + 100(n - 1) and answered 100 ms later; the bound is at 255.
    await clock.advance(100);
    await until(() => Promise.resolve(sends === 2));
    await clock.advance(100);
    await until(() => Promise.resolve(sends === 3));
    await clock.advance(49);
    assert.equal(closed, false);
    await clock.advance(1);
    await closing;
    assert.equal(clock.now(), 255);
    assert.equal(sends, 3); // batches 1 and 2 delivered, batch 3 aborted
    await using next = await EdgeBuffer.open<number>({ kv, telemetry: false });
    assert.equal((await next.stats()).count, 2_800);
    assert.deepEqual((await next.peek(1)).map((e) => e.event), [200]);
  } finally {
    kv.close();
  }
});

Deno.test("createOutbox rejects bad options naming them", async () => {
  const send = () => Promise.resolve();
  const cases: Array<[unknown, ErrorConstructor, string]> = [
    [{ send: 1 }, TypeError, "send must be a function: received 1"],
    [
      { send, flushIntervalMs: -1 },
      RangeError,
      "flushIntervalMs must be a number > 0: received -1",
    ],
    [
      { send, batch: { compressionLevel: 11 } },
      RangeError,
      "batch.compressionLevel must be an integer between 1 and 9: received 11",
    ],
    [
      { send, batch: { maxBatchSize: 0 } },
      RangeError,
      "batch.maxBatchSize must be an integer >= 1: received 0",
    ],
    [
      { send, batch: { maxBatchAgeMs: 5 } },
      TypeError,
      "batch.maxBatchAgeMs is not a known option (expected one of: maxBatchSize, compression, compressionLevel)",
    ],
    [{ send, policy: {} }, TypeError, "policy must be a Policy (from policy()): received {}"],
    [
      { send, buffer: { path: ":memory:", onFull: "drop" } },
      RangeError,
      'buffer.onFull must be "reject" or "drop_oldest": received "drop"',
    ],
  ];
  for (const [options, Class, message] of cases) {
    await assert.rejects(
      createOutbox(loose({ buffer: { path: ":memory:" }, ...(options as object) })),
      (e) => {
        assert.equal(Object.getPrototypeOf(e), Class.prototype, message);
        assert.equal((e as Error).message, message);
        return true;
      },
    );
  }
});
