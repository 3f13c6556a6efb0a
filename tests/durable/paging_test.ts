import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";

/** A KV that records the batchSize of every list() call. */
async function listingKv() {
  const kv = await Deno.openKv(":memory:");
  const pages: Array<number | undefined> = [];
  const wrapped = {
    atomic: kv.atomic.bind(kv),
    get: kv.get.bind(kv),
    getMany: kv.getMany.bind(kv),
    list: (selector: Deno.KvListSelector, options?: Deno.KvListOptions) => {
      pages.push(options?.batchSize);
      return kv.list(selector, options);
    },
    close: kv.close.bind(kv),
  } as unknown as Deno.Kv;
  return { kv, wrapped, pages };
}

Deno.test("EdgeBuffer peek and flush list the KV in small pages, one listing per batch", async () => {
  const { kv, wrapped, pages } = await listingKv();
  try {
    await using buffer = await EdgeBuffer.open<string>({ kv: wrapped, telemetry: false });
    const pad = "p".repeat(1_000);
    // 20,000 events of 1 KB: 20 MB stored.
    for (let i = 0; i < 20; i++) {
      await Promise.all(
        Array.from({ length: 1_000 }, (_, j) => buffer.enqueue(`${i * 1_000 + j}${pad}`)),
      );
    }
    pages.length = 0;
    assert.equal((await buffer.peek(5)).length, 5);
    assert.deepEqual(pages, [2]);
    pages.length = 0;
    const result = await buffer.flush(() => Promise.resolve(), { batchSize: 100 });
    assert.deepEqual(result, { sent: 20_000, batches: 200, remaining: 0 });
    // One list per batch (plus the final empty read), 2 records (of up to 100 events) per round trip.
    assert.equal(pages.length, 201);
    assert.ok(pages.every((p) => p === 2));
  } finally {
    kv.close();
  }
});

async function flushPeak(n: number): Promise<{ sent: number; peak: number }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-kv",
      "--v8-flags=--expose-gc",
      new URL("./_heap_child.ts", import.meta.url).pathname,
      String(n),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return JSON.parse(new TextDecoder().decode(stdout));
}

Deno.test("EdgeBuffer.flush() heap does not grow with the number of buffered events (2,000 vs 20,000)", async () => {
  const small = await flushPeak(2_000);
  const large = await flushPeak(20_000);
  assert.deepEqual([small.sent, large.sent], [2_000, 20_000]);
  // 18,000 more events of 1 KB would be 18 MB more if the flush held them.
  assert.ok(
    large.peak - small.peak < 2 * 1024 * 1024,
    `after GC: ${small.peak} bytes for 2,000 events, ${large.peak} for 20,000`,
  );
});
