import assert from "node:assert/strict";
import { createOutbox, EdgeBuffer } from "../../durable.ts";

/** Makes the next KV commit after `arm()` reject (an I/O error after the send resolved). */
function commitFailure() {
  const proto = Deno.AtomicOperation.prototype;
  const real = proto.commit;
  let armed = false;
  proto.commit = function (this: Deno.AtomicOperation) {
    if (armed) {
      armed = false;
      return Promise.reject(new Error("disk I/O error (injected)"));
    }
    return real.call(this);
  };
  return {
    arm: () => (armed = true),
    [Symbol.dispose]: () => (proto.commit = real),
  };
}

Deno.test("flush: a removal commit that fails after its sends resolved ends the flush with the error; those batches stay and are sent again", async () => {
  using failure = commitFailure();
  await using buffer = await EdgeBuffer.open<number>({ path: ":memory:", telemetry: false });
  await buffer.enqueueMany(Array.from({ length: 2_500 }, (_, n) => n));
  const seen: number[][] = [];
  const send = (events: number[]) => {
    seen.push(events);
    if (seen.length === 4) failure.arm(); // the removal of batches 3 and 4 fails
    return Promise.resolve();
  };
  // Sent events are removed 1,000 at a time: batches 1-2, then 3-4 (fails).
  const first = await buffer.flush(send, { batchSize: 500 });
  assert.equal(String(first.error), "Error: disk I/O error (injected)");
  assert.deepEqual([first.sent, first.batches, first.remaining], [1_000, 2, 1_500]);
  assert.deepEqual(await buffer.stats().then((s) => [s.count, s.flushed]), [1_500, 1_000]);
  assert.deepEqual(await buffer.flush(send, { batchSize: 500 }), {
    sent: 1_500,
    batches: 3,
    remaining: 0,
  });
  assert.deepEqual(seen.map((events) => [events[0], events.at(-1)]), [
    [0, 499],
    [500, 999],
    [1_000, 1_499],
    [1_500, 1_999],
    [1_000, 1_499], // sent again: their removal failed
    [1_500, 1_999],
    [2_000, 2_499],
  ]);
});

Deno.test("outbox: a failed removal counts as a failed send; the batches it covered are the only duplicates (counted)", async () => {
  using failure = commitFailure();
  let batches = 0;
  const delivered: string[] = [];
  const outbox = await createOutbox<number>({
    buffer: { path: ":memory:", telemetry: false },
    send: (batch) => {
      delivered.push(...batch.ids!);
      if (++batches === 4) failure.arm();
      return Promise.resolve();
    },
    batch: { maxBatchSize: 500 },
    flushIntervalMs: 60_000,
  });
  await Promise.all(Array.from({ length: 2_500 }, (_, n) => outbox.publish(n)));
  const drained = await outbox.drain();
  assert.deepEqual([drained.sent, drained.batches, drained.remaining], [1_000, 2, 1_500]);
  assert.deepEqual(
    await outbox.stats().then((s) => [s.sent, s.batches, s.failedSends, s.buffer.count]),
    [1_000, 2, 1, 1_500],
  );
  await outbox.close(); // the last drain delivers the rest
  assert.equal(delivered.length, 3_500);
  assert.equal(new Set(delivered).size, 2_500);
  const duplicates = delivered.filter((id, i) => delivered.indexOf(id) !== i);
  assert.deepEqual(duplicates, delivered.slice(1_000, 2_000));
});
