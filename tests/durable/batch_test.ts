import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { type Batch, BatchProcessor } from "../../durable.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("BatchProcessor completes a batch at maxBatchSize, handing it to onBatch and returning it", () => {
  const clock = new VirtualClock(5_000);
  const batches: Batch<number>[] = [];
  const p = new BatchProcessor<number>({ maxBatchSize: 3, clock, onBatch: (b) => batches.push(b) });
  assert.equal(p.add(1), undefined);
  assert.equal(p.add(2), undefined);
  assert.equal(p.pending, 2);
  const batch = p.add(3)!;
  assert.deepEqual(batches, [batch]);
  assert.deepEqual(
    [batch.id, batch.events, batch.createdAt, batch.compression, p.pending],
    ["1", [1, 2, 3], 5_000, "gzip", 0],
  );
  assert.equal(text(gunzipSync(batch.payload)), "1\n2\n3\n");
  assert.equal(batch.uncompressedBytes, 6);
  assert.equal(batch.compressedBytes, batch.payload.length);
  assert.equal(clock.pending, 0, "the age timer is cleared");
  assert.equal(p.add(4), undefined);
  assert.equal(p.stop()!.id, "2");
});

Deno.test("BatchProcessor completes a batch maxBatchAgeMs after its first event, in virtual time", async () => {
  const clock = new VirtualClock();
  const batches: Batch<string>[] = [];
  const p = new BatchProcessor<string>({
    maxBatchAgeMs: 500,
    clock,
    onBatch: (b) => batches.push(b),
  });
  p.add("a");
  await clock.advance(200);
  p.add("b");
  await clock.advance(299);
  assert.equal(batches.length, 0);
  await clock.advance(1);
  assert.deepEqual(batches.map((b) => [b.events, b.createdAt]), [[["a", "b"], 0]]);
  p.add("c"); // a new batch, a new 500 ms
  await clock.advance(499);
  assert.equal(batches.length, 1);
  await clock.advance(1);
  assert.deepEqual(batches.map((b) => [b.events, b.createdAt]), [[["a", "b"], 0], [["c"], 500]]);
  assert.equal(clock.pending, 0);
});

Deno.test("BatchProcessor gzip levels 1 and 9 both decompress to the NDJSON of the events and differ in size", () => {
  const events = Array.from({ length: 2_000 }, (_, i) => ({
    sensor: `arm-${i % 7}`,
    t: 1_700_000_000_000 + i * 37,
    value: Math.round(Math.sin(i / 10) * 1_000) / 10,
  }));
  const ndjson = events.map((e) => JSON.stringify(e) + "\n").join("");
  const sizes: number[] = [];
  for (const compressionLevel of [1, 9]) {
    const p = new BatchProcessor({ maxBatchSize: 10_000, compressionLevel });
    events.forEach((e) => p.add(e));
    const batch = p.stop()!;
    assert.equal(text(gunzipSync(batch.payload)), ndjson);
    assert.equal(batch.uncompressedBytes, new TextEncoder().encode(ndjson).length);
    assert.ok(batch.compressedBytes < batch.uncompressedBytes / 3);
    sizes.push(batch.compressedBytes);
  }
  assert.ok(sizes[1]! < sizes[0]!, `level 9 (${sizes[1]} B) smaller than level 1 (${sizes[0]} B)`);
  const plain = new BatchProcessor<number>({ compression: "none" });
  plain.add(7);
  const batch = plain.flush()!;
  assert.equal(text(batch.payload), "7\n");
  assert.deepEqual([batch.compression, batch.compressedBytes, batch.uncompressedBytes], [
    "none",
    2,
    2,
  ]);
  plain.stop();
});

Deno.test("BatchProcessor: flush() of an empty batch, stop(), a throwing onBatch", () => {
  const p = new BatchProcessor<number>({
    onBatch: () => {
      throw new Error("listener bug");
    },
  });
  assert.equal(p.flush(), undefined);
  p.add(1);
  assert.deepEqual(p.flush()!.events, [1]);
  p.add(2);
  assert.deepEqual(p.stop()!.events, [2]);
  assert.throws(() => p.add(3), /BatchProcessor is stopped: add\(\) is not allowed/);
  assert.equal(p.stop(), undefined);
});

Deno.test("BatchProcessor rejects bad options naming them", () => {
  const cases: Array<[unknown, RangeErrorConstructor | TypeErrorConstructor, string]> = [
    [
      { compressionLevel: 0 },
      RangeError,
      "compressionLevel must be an integer between 1 and 9: received 0",
    ],
    [
      { compressionLevel: 10 },
      RangeError,
      "compressionLevel must be an integer between 1 and 9: received 10",
    ],
    [
      { compressionLevel: 1.5 },
      RangeError,
      "compressionLevel must be an integer between 1 and 9: received 1.5",
    ],
    [
      { compression: "brotli" },
      RangeError,
      'compression must be "gzip" or "none": received "brotli"',
    ],
    [{ maxBatchSize: 0 }, RangeError, "maxBatchSize must be an integer >= 1: received 0"],
    [{ maxBatchSize: NaN }, RangeError, "maxBatchSize must be an integer >= 1: received NaN"],
    [{ maxBatchAgeMs: -1 }, RangeError, "maxBatchAgeMs must be a number > 0: received -1"],
    [{ onBatch: 1 }, TypeError, "onBatch must be a function: received 1"],
    [
      { maxBatch: 1 },
      TypeError,
      "maxBatch is not a known option (expected one of: maxBatchSize, maxBatchAgeMs, compression, compressionLevel, onBatch, clock)",
    ],
  ];
  for (const [options, Class, message] of cases) {
    throwsExactly(() => new BatchProcessor(loose(options)), Class, message);
  }
});
