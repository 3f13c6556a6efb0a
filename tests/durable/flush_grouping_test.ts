import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import type { BufferFlushedEvent, ResilienceEvent } from "../../src/core/events.ts";

/** Counts KV commits until disposed. */
function commits() {
  const proto = Deno.AtomicOperation.prototype;
  const real = proto.commit;
  const counter = {
    count: 0,
    [Symbol.dispose]: () => (proto.commit = real),
  };
  proto.commit = function (this: Deno.AtomicOperation) {
    counter.count++;
    return real.call(this);
  };
  return counter;
}

Deno.test("flush removes sent events in one commit per 1,000 and at its end; buffer_flushed is still one event per batch", async () => {
  const events: ResilienceEvent[] = [];
  await using buffer = await EdgeBuffer.open<number>({
    path: ":memory:",
    telemetry: false,
    onEvent: (e) => void events.push(e),
  });
  await buffer.enqueueMany(Array.from({ length: 2_500 }, (_, n) => n));
  using counted = commits();
  const received: number[] = [];
  const result = await buffer.flush((batch) => {
    received.push(...batch);
    return Promise.resolve();
  });
  assert.deepEqual(result, { sent: 2_500, batches: 25, remaining: 0 });
  assert.deepEqual(received, Array.from({ length: 2_500 }, (_, n) => n));
  assert.equal(counted.count, 3); // 1,000 + 1,000 + 500 (was 25: one per batch)
  const flushed = events.filter((e): e is BufferFlushedEvent => e.type === "buffer_flushed");
  assert.deepEqual(
    flushed.map((e) => [e.count, e.remaining]),
    Array.from({ length: 25 }, (_, b) => [100, 2_400 - 100 * b]),
  );
});

Deno.test("flush removes what it delivered before it returns on abort and on a failed send", async () => {
  await using buffer = await EdgeBuffer.open<number>({ path: ":memory:", telemetry: false });
  await buffer.enqueueMany(Array.from({ length: 2_500 }, (_, n) => n));
  const stop = new AbortController();
  let batches = 0;
  const aborted = await buffer.flush(() => {
    if (++batches === 5) stop.abort(new Error("stop"));
    return Promise.resolve();
  }, { signal: stop.signal });
  assert.equal(String(aborted.error), "Error: stop");
  assert.deepEqual([aborted.sent, aborted.batches, aborted.remaining], [500, 5, 2_000]);
  const failed = await buffer.flush((events) =>
    events[0] === 1_200 ? Promise.reject(new Error("down")) : Promise.resolve()
  );
  assert.equal(String(failed.error), "Error: down");
  assert.deepEqual([failed.sent, failed.batches, failed.remaining], [700, 7, 1_300]);
  assert.deepEqual((await buffer.peek(1)).map((e) => e.event), [1_200]);
  assert.deepEqual(await buffer.stats().then((s) => [s.count, s.flushed]), [1_300, 1_200]);
});
