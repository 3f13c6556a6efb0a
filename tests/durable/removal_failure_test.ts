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

Deno.test("flush: a removal commit that fails after its send resolved ends the flush with the error; the batch stays and is sent again", async () => {
  using failure = commitFailure();
  await using buffer = await EdgeBuffer.open<number>({ path: ":memory:", telemetry: false });
  for (let n = 0; n < 30; n++) await buffer.enqueue(n);
  const seen: string[][] = [];
  const send = (_events: number[], { ids }: { ids: string[] }) => {
    seen.push(ids);
    if (seen.length === 2) failure.arm(); // batch 2's removal fails
    return Promise.resolve();
  };
  const first = await buffer.flush(send, { batchSize: 10 });
  assert.equal(String(first.error), "Error: disk I/O error (injected)");
  assert.deepEqual({ ...first, error: undefined }, {
    sent: 10,
    batches: 1,
    remaining: 20,
    error: undefined,
  });
  assert.deepEqual(await buffer.stats().then((s) => [s.count, s.flushed]), [20, 10]);
  assert.deepEqual(await buffer.flush(send, { batchSize: 10 }), {
    sent: 20,
    batches: 2,
    remaining: 0,
  });
  assert.deepEqual(seen.map((ids) => [ids[0], ids.at(-1)]), [
    ["0.0", "9.0"],
    ["10.0", "19.0"],
    ["10.0", "19.0"], // delivered twice: its removal failed
    ["20.0", "29.0"],
  ]);
});

Deno.test("outbox: a failed removal counts as a failed send; its batch is the only duplicate (counted)", async () => {
  using failure = commitFailure();
  let batches = 0;
  const delivered: string[] = [];
  const outbox = await createOutbox<number>({
    buffer: { path: ":memory:", telemetry: false },
    send: (batch) => {
      delivered.push(...batch.ids!);
      if (++batches === 2) failure.arm();
      return Promise.resolve();
    },
    batch: { maxBatchSize: 10 },
    flushIntervalMs: 60_000,
  });
  for (let n = 0; n < 30; n++) await outbox.publish(n);
  const drained = await outbox.drain();
  assert.deepEqual([drained.sent, drained.batches, drained.remaining], [10, 1, 20]);
  assert.deepEqual(
    await outbox.stats().then((s) => [s.sent, s.batches, s.failedSends, s.buffer.count]),
    [10, 1, 1, 20],
  );
  await outbox.close(); // the last drain delivers the rest
  assert.equal(delivered.length, 40);
  assert.equal(new Set(delivered).size, 30);
  const duplicates = delivered.filter((id, i) => delivered.indexOf(id) !== i);
  assert.deepEqual(duplicates, Array.from({ length: 10 }, (_, i) => `${10 + i}.0`));
});
