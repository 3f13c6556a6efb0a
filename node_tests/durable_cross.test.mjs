// One EdgeBuffer file used by both runtimes: Node (npm @deno/kv) in this process, Deno in a child
// (tests/durable/_cross_child.ts, run from the repo's source). Every value the buffer writes is
// bytes or a KvU64, so each runtime reads, appends to and flushes what the other wrote; a
// namespace of V8-serialized objects (earlier Bulwark) is refused at open by either, unchanged.
// Deno is `deno` on PATH, else the pinned npm package through npx (as .ci/run installs it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { KvU64, openKv } from "@deno/kv";
import { EdgeBuffer } from "@bulwark/bulwark/durable";

const repo = fileURLToPath(new URL("..", import.meta.url));
const key = new Uint8Array(32).fill(7);
const big = "b".repeat(100_000); // 100,002 stored bytes (+ 28 with AES-GCM): two chunks

/** The deno binary: on PATH, else the one of the pinned npm package (as .ci/run installs it). */
function findDeno() {
  if (spawnSync("deno", ["--version"], { stdio: "ignore" }).error === undefined) return "deno";
  const found = spawnSync("npx", [
    "--yes",
    "deno@2.9.6",
    "eval",
    "console.log(Deno.execPath())",
  ], { encoding: "utf8" });
  assert.equal(found.status, 0, found.stderr);
  return found.stdout.trim();
}
const deno = findDeno();

/**
 * Starts a Deno child running `script` (in tests/durable/) with `plan`; `out` and `err` collect
 * its output, `exited` resolves with its exit code (after its output ended).
 */
function denoChild(script, plan) {
  const child = spawn(deno, [
    "run",
    "--config",
    join(repo, "deno.json"),
    "--allow-read",
    "--allow-write",
    join(repo, "tests/durable", script),
    JSON.stringify(plan),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  const run = { child, out: "", err: "" };
  child.stdout.on("data", (d) => (run.out += d));
  child.stderr.on("data", (d) => (run.err += d));
  run.exited = new Promise((resolve) => child.on("close", resolve));
  return run;
}

/** Runs tests/durable/_cross_child.ts with `plan`; resolves with its JSON line. */
async function onDeno(plan) {
  const run = denoChild("_cross_child.ts", { ...plan, key: plan.key && [...plan.key] });
  assert.equal(await run.exited, 0, `deno child failed: ${run.err}`);
  return JSON.parse(run.out.trim().split("\n").at(-1));
}

/** A temp dir with a KV file; removed after the test. */
async function tempFile(t) {
  const dir = await mkdtemp(join(tmpdir(), "bulwark-node-cross-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, "buffer.db");
}

/** Runs `fn` with the file open on Node (closed after). */
async function onNode(path, fn) {
  const kv = await openKv(path);
  try {
    return await fn(kv);
  } finally {
    kv.close();
  }
}

/** Every entry of the file: [key, kind of value, versionstamp]. */
async function entries(kv) {
  const out = [];
  for await (const e of kv.list({ prefix: [] })) {
    const kind = e.value instanceof KvU64
      ? "u64"
      : e.value instanceof Uint8Array
      ? "bytes"
      : typeof e.value;
    out.push([e.key.join("/"), kind, e.versionstamp]);
  }
  return out;
}

/** Buffer "mixed" on Node, encrypted when `encryptionKey` is given. */
function nodeBuffer(kv, encryptionKey) {
  return EdgeBuffer.open({
    kv,
    name: "mixed",
    telemetry: false,
    ...(encryptionKey && { encryptionKey }),
  });
}

// The reviewer's wedge (before: Deno's append resolved, then stats and every flush threw).
test("a buffer file written on Node is read, appended to and flushed by Deno and by Node again; counters equal the records", async (t) => {
  const path = await tempFile(t);
  await onNode(path, async (kv) => {
    const buffer = await nodeBuffer(kv);
    assert.equal(await buffer.enqueueMany([{ by: "node", n: 1 }, { by: "node", n: 2 }]), 2);
    assert.equal(await buffer.enqueue(big), true);
    await buffer.close();
  });
  // Deno: appends (before the fix this resolved, and everything after it threw), reads the
  // records, flushes one batch of 2 (the second batch fails).
  const deno1 = await onDeno({
    path,
    name: "mixed",
    steps: [{ enqueue: [{ by: "deno", n: 3 }] }, { stats: true }, { flush: 2, failAfter: 1 }],
  });
  assert.deepEqual(deno1, {
    results: [
      1,
      { count: 4, sizeBytes: 3 * 19 + 100_002 }, // {"by":"node","n":1} is 19 bytes
      {
        sent: 2,
        batches: 1,
        remaining: 2,
        error: "collector away",
        events: [{ by: "node", n: 1 }, { by: "node", n: 2 }],
      },
    ],
  });
  // Node: reads what Deno left and wrote, appends, flushes everything.
  await onNode(path, async (kv) => {
    const buffer = await nodeBuffer(kv);
    assert.deepEqual((await buffer.peek()).map((e) => e.id), ["1.0", "2.0"]);
    assert.equal(await buffer.enqueue({ by: "node", n: 4 }), true);
    const sent = [];
    assert.deepEqual(await buffer.flush((events) => void sent.push(...events)), {
      sent: 3,
      batches: 1,
      remaining: 0,
    });
    assert.deepEqual(sent, [big, { by: "deno", n: 3 }, { by: "node", n: 4 }]);
    await buffer.close();
    // Deno's writes are bytes and KvU64s Node reads; nothing is left, the counters are 0.
    const kinds = (await entries(kv)).map(([k, kind]) => `${k} ${kind}`);
    assert.deepEqual(kinds, [
      "bulwark/buffer/mixed/bytes u64",
      "bulwark/buffer/mixed/count u64",
      "bulwark/buffer/mixed/key bytes",
      "bulwark/buffer/mixed/next u64",
      "bulwark/buffer/mixed/rm u64",
    ]);
    const counters = await kv.getMany(["bytes", "count", "next"].map((k) => [
      "bulwark",
      "buffer",
      "mixed",
      k,
    ]));
    assert.deepEqual(counters.map((c) => c.value.value), [0n, 0n, 4n]);
  });
});

test("an encrypted buffer file written on Deno is read and appended to by Node, then flushed by Deno", async (t) => {
  const path2 = await tempFile(t);
  const deno2 = await onDeno({
    path: path2,
    name: "mixed",
    key,
    steps: [{ enqueue: [{ by: "deno", n: 1 }, big] }],
  });
  assert.deepEqual(deno2, { results: [2] });
  await onNode(path2, async (kv) => {
    const buffer = await nodeBuffer(kv, key);
    assert.deepEqual((await buffer.peek()).map((e) => [e.id, e.event]), [
      ["0.0", { by: "deno", n: 1 }],
      ["1.0", big],
    ]);
    assert.equal(await buffer.enqueue({ by: "node", n: 2 }), true);
    assert.deepEqual((await buffer.stats()).count, 3);
    await buffer.close();
  });
  const deno3 = await onDeno({
    path: path2,
    name: "mixed",
    key,
    steps: [{ flush: 100 }, { stats: true }],
  });
  assert.deepEqual(deno3, {
    results: [
      {
        sent: 3,
        batches: 1,
        remaining: 0,
        events: [{ by: "deno", n: 1 }, big, { by: "node", n: 2 }],
      },
      { count: 0, sizeBytes: 0 },
    ],
  });
});

test("a Node process and a Deno process enqueueing into one buffer file at once: nothing lost, each writer's order kept, counters equal the records", async (t) => {
  const path = await tempFile(t);
  // tests/durable/_writer_child.ts: 2,000 events in groups of 8, every 100th of 150,000 bytes
  // (Deno commits faster: it writes more, so that it is still writing while Node writes 600).
  const writer = denoChild("_writer_child.ts", {
    path,
    writer: "deno",
    start: 0,
    count: 2_000,
    concurrency: 8,
    bigEvery: 100,
  });
  // Node starts once Deno has committed its first events, so the two really write at once.
  await new Promise((resolve) => writer.child.stdout.once("data", resolve));
  await onNode(path, async (kv) => {
    const buffer = await EdgeBuffer.open({ kv, name: "crash", telemetry: false });
    for (let seq = 0; seq < 600; seq += 8) {
      const group = Array.from({ length: 8 }, (_, i) => seq + i).map((n) =>
        buffer.enqueue({ writer: "node", seq: n, pad: n % 100 === 0 ? "b".repeat(150_000) : "" })
      );
      assert.deepEqual(await Promise.all(group), Array(8).fill(true));
    }
    assert.equal(await writer.exited, 0, writer.err);
    assert.equal(writer.out.split("\n").filter((l) => l.startsWith("ok deno ")).length, 2_000);
    const entries = await buffer.peek(3_000);
    assert.equal(entries.length, 2_600);
    for (const [writer, n] of [["node", 600], ["deno", 2_000]]) {
      const seqs = entries.filter((e) => e.event.writer === writer).map((e) => e.event.seq);
      assert.deepEqual(seqs, Array.from({ length: n }, (_, i) => i), writer);
    }
    // The writers interleaved (commit order across the two processes).
    const switches = entries.filter((e, i) =>
      i > 0 && e.event.writer !== entries[i - 1].event.writer
    );
    assert.ok(switches.length >= 2, `${switches.length} switches between writers`);
    const { count, sizeBytes } = await buffer.stats();
    assert.deepEqual([count, sizeBytes], [
      entries.length,
      entries.reduce((sum, e) => sum + e.sizeBytes, 0),
    ]);
    await buffer.close();
  });
});

test("a Deno writer SIGKILLed mid-write (3 times): Node finds every acknowledged event once, in order, counters equal the records, and flushes them", async (t) => {
  const path = await tempFile(t);
  const acked = [];
  let next = 0;
  for (const kills of [50, 150, 300]) {
    // Groups of 16 concurrent enqueues, encrypted; every 37th event is 150,000 bytes (3 chunks).
    const writer = denoChild("_writer_child.ts", {
      path,
      writer: "w",
      start: next,
      count: 100_000,
      concurrency: 16,
      bigEvery: 37,
      key: [...key],
    });
    await new Promise((resolve) => {
      const check = () => {
        if (writer.out.split("\n").filter((l) => l.startsWith("ok ")).length >= kills) resolve();
      };
      writer.child.stdout.on("data", check);
      writer.exited.then(resolve);
    });
    writer.child.kill("SIGKILL");
    assert.equal(await writer.exited, null, `killed while writing: ${writer.err}`);
    const ok = writer.out.split("\n").filter((l) => l.startsWith("ok ")).map((l) =>
      Number(l.split(" ")[2])
    );
    assert.ok(ok.length >= kills, `${ok.length} acknowledged`);
    acked.push(...ok);
    await onNode(path, async (kv) => {
      const buffer = await EdgeBuffer.open({
        kv,
        name: "crash",
        encryptionKey: key,
        telemetry: false,
      });
      const stored = await buffer.peek(100_000);
      const seqs = stored.map((e) => e.event.seq);
      // Committed groups are whole: the stored events are exactly 0 .. n-1, in order.
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i));
      assert.ok(seqs.length >= new Set(acked).size && acked.every((s) => s < seqs.length));
      for (const e of stored) {
        assert.equal(e.event.pad.length, e.event.seq % 37 === 0 ? 150_000 : e.event.seq % 40);
      }
      const { count, sizeBytes } = await buffer.stats();
      assert.deepEqual([count, sizeBytes], [
        stored.length,
        stored.reduce((sum, e) => sum + e.sizeBytes, 0),
      ]);
      next = seqs.length;
      await buffer.close();
    });
  }
  // Node delivers what the killed writers acknowledged (and what they committed after).
  await onNode(path, async (kv) => {
    const buffer = await EdgeBuffer.open({
      kv,
      name: "crash",
      encryptionKey: key,
      telemetry: false,
    });
    const sent = [];
    const result = await buffer.flush((events) => void sent.push(...events.map((e) => e.seq)), {
      batchSize: 500,
    });
    assert.deepEqual([result.sent, result.remaining], [next, 0]);
    assert.deepEqual(sent, Array.from({ length: next }, (_, i) => i));
    await buffer.close();
  });
});

const EARLIER =
  "it was written by an earlier Bulwark, whose V8-serialized records only the runtime " +
  "that wrote them can read, or it is damaged; flush it with the version (and on the runtime) " +
  "that wrote it: an open that finds no record stored rewrites an earlier key check";

test("a namespace of V8-serialized objects (an earlier Bulwark on Node) is refused at open by Node and by Deno, before anything is written", async (t) => {
  const path = await tempFile(t);
  const before = await onNode(path, async (kv) => {
    // What Bulwark wrote on Node before: an object key check (with a typed array) and object heads.
    await kv.set(["bulwark", "buffer", "old", "key"], {
      encrypted: true,
      check: new Uint8Array(52),
    });
    await kv.set(["bulwark", "buffer", "old", "r", 0, 0], {
      at: [1],
      size: [1],
      idx: [0],
      n: 1,
      d: new Uint8Array([49]),
    });
    await assert.rejects(
      EdgeBuffer.open({ kv, name: "old", encryptionKey: key, telemetry: false }),
      new TypeError(
        `buffer "old" is not in record format 1 (its key check is a V8-serialized object): ${EARLIER}`,
      ),
    );
    return await entries(kv);
  });
  assert.deepEqual(await onDeno({ path, name: "old", key, steps: [{ enqueue: [1] }] }), {
    results: [],
    error: [
      "TypeError",
      `buffer "old" is not in record format 1 (a record cannot be deserialized here): ${EARLIER}`,
    ],
  });
  assert.deepEqual(await onNode(path, entries), before);
});

/** The key check an earlier Bulwark sealed for buffer `name`: the known text as record -1, event 0. */
async function earlierCheck(name) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aesKey = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const sealed = await crypto.subtle.encrypt(
    {
      name: "AES-GCM",
      iv,
      additionalData: new TextEncoder().encode(`bulwark/buffer/${name}/r/-1/0`),
    },
    aesKey,
    new TextEncoder().encode("bulwark buffer key check"),
  );
  return new Uint8Array([...iv, ...new Uint8Array(sealed)]);
}

test("an earlier Bulwark's key check left by Node with no record: Deno rewrites a plaintext one; an encrypted one (a typed array Deno cannot read) it refuses naming the key, Node rewrites it, then Deno uses the buffer with the key", async (t) => {
  const path = await tempFile(t);
  const sealed = await earlierCheck("sealed");
  await onNode(path, async (kv) => {
    // What an earlier Bulwark on Node left after flush and clear: an object key check, counters.
    for (
      const [name, check] of [["plain", { encrypted: false }], ["sealed", {
        encrypted: true,
        check: sealed,
      }]]
    ) {
      await kv.atomic().set(["bulwark", "buffer", name, "key"], check)
        .sum(["bulwark", "buffer", name, "next"], 2n).commit();
    }
  });
  assert.deepEqual(
    await onDeno({ path, name: "plain", steps: [{ enqueue: [1] }, { peek: 5 }] }),
    { results: [1, [["2.0", 1]]] },
  );
  assert.deepEqual(await onDeno({ path, name: "sealed", key, steps: [{ enqueue: [1] }] }), {
    results: [],
    error: [
      "TypeError",
      'buffer "sealed" holds no record, but its key check ["bulwark","buffer","sealed","key"] ' +
      "cannot be deserialized here: delete that key to open the buffer with this version",
    ],
  });
  const checks = await onNode(path, async (kv) => {
    const buffer = await EdgeBuffer.open({
      kv,
      name: "sealed",
      encryptionKey: key,
      telemetry: false,
    });
    await buffer.close();
    const read = async (name) => [...(await kv.get(["bulwark", "buffer", name, "key"])).value];
    return [await read("plain"), await read("sealed")];
  });
  assert.deepEqual(checks, [[1, 0], [1, 1, ...sealed]]);
  assert.deepEqual(
    await onDeno({ path, name: "sealed", key, steps: [{ enqueue: [1] }, { peek: 5 }] }),
    { results: [1, [["2.0", 1]]] },
  );
});
