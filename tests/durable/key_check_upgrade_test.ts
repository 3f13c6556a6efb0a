// A buffer written, flushed and cleared by a Bulwark before the record format (0173269) leaves
// its key check as a V8-serialized object and no record: an open rewrites the key check as
// bytes (format 1) and the buffer is used as before. With records left, it is still refused.
import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { aesGcmSealer, importKey, RECORD_FORMAT } from "../../src/durable/record.ts";
import { tempKvPath } from "./_kv.ts";

const CHECK = new TextEncoder().encode("bulwark buffer key check");

/** What 0173269 left after `flush` and `clear` of 3 events: counters and an object key check. */
async function writeOld(kv: Deno.Kv, name: string, check: object): Promise<void> {
  await kv.atomic()
    .set(["bulwark", "buffer", name, "key"], check)
    .sum(["bulwark", "buffer", name, "next"], 3n)
    .sum(["bulwark", "buffer", name, "bytes"], 0n)
    .sum(["bulwark", "buffer", name, "count"], 0n)
    .sum(["bulwark", "buffer", name, "rm"], 1n)
    .commit();
}

Deno.test("an earlier version's key check with no record stored is rewritten as format 1 at open; the buffer is then used as before, encrypted or not", async () => {
  const { path, cleanup } = await tempKvPath();
  const kv = await Deno.openKv(path);
  try {
    await writeOld(kv, "plain", { encrypted: false });
    const key = new Uint8Array(32).fill(5);
    // The earlier key check of an encrypted buffer: the known text sealed as record -1, event 0.
    const sealed = await aesGcmSealer(await importKey(key)).seal(CHECK, "sealed", -1, 0);
    await writeOld(kv, "sealed", { encrypted: true, check: sealed });

    const plain = await EdgeBuffer.open({ path, name: "plain", telemetry: false });
    assert.equal((await plain.stats()).count, 0);
    assert.deepEqual(await plain.peek(), []);
    assert.equal(await plain.enqueue({ t: 4 }), true);
    assert.deepEqual((await plain.peek()).map((e) => [e.id, e.event]), [["3.0", { t: 4 }]]);
    await plain.close();
    const plainCheck = (await kv.get<Uint8Array>(["bulwark", "buffer", "plain", "key"])).value;
    assert.deepEqual(plainCheck, new Uint8Array([RECORD_FORMAT, 0]));

    const right = await EdgeBuffer.open({
      kv,
      name: "sealed",
      encryptionKey: key,
      telemetry: false,
    });
    assert.equal((await right.stats()).count, 0);
    assert.equal(await right.enqueue({ t: 5 }), true);
    assert.deepEqual((await right.peek()).map((e) => [e.id, e.event]), [["3.0", { t: 5 }]]);
    await right.close();
    const check = (await kv.get<Uint8Array>(["bulwark", "buffer", "sealed", "key"])).value!;
    assert.deepEqual(check, new Uint8Array([RECORD_FORMAT, 1, ...sealed]));
    // The sealed check was kept: another key is still told apart, and no key too.
    for (const encryptionKey of [new Uint8Array(32).fill(6), undefined]) {
      const wrong = await EdgeBuffer.open({
        kv,
        name: "sealed",
        telemetry: false,
        ...(encryptionKey === undefined ? {} : { encryptionKey }),
      });
      await assert.rejects(wrong.enqueue({ t: 6 }), /encryptionKey/);
      await wrong.close();
    }
  } finally {
    kv.close();
    await cleanup();
  }
});

/** `kv` with `get` and `list` hooked. */
function hooked(
  kv: Deno.Kv,
  hooks: { get?: (key: Deno.KvKey) => Promise<void>; list?: () => Promise<void> },
): Deno.Kv {
  return {
    ...Object.fromEntries(
      (["getMany", "atomic", "close"] as const).map((m) => [m, kv[m].bind(kv)]),
    ),
    async get(key: Deno.KvKey) {
      await hooks.get?.(key);
      return kv.get(key);
    },
    list(selector: Deno.KvListSelector, options?: Deno.KvListOptions) {
      const inner = kv.list(selector, options);
      return (async function* () {
        await hooks.list?.();
        yield* inner;
      })();
    },
  } as unknown as Deno.Kv;
}

Deno.test("an earlier writer enqueueing while the key check is rewritten makes the rewrite fail: the open reads again and refuses the records", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await writeOld(kv, "old", { encrypted: false });
    let enqueued = false;
    const racing = hooked(kv, {
      // Between the read of "next" and the rewrite: an earlier writer's enqueue (an object head).
      async list() {
        if (enqueued) return;
        enqueued = true;
        await kv.atomic()
          .set(["bulwark", "buffer", "old", "r", 3, 0], { at: [1], size: [1], idx: [0], n: 1 })
          .sum(["bulwark", "buffer", "old", "next"], 1n)
          .commit();
      },
    });
    await assert.rejects(
      EdgeBuffer.open({ kv: racing, name: "old", telemetry: false }),
      /^TypeError: buffer "old" is not in record format 1 \(its key check is a V8-serialized object\)/,
    );
    assert.equal(enqueued, true);
    const stored = (await kv.get(["bulwark", "buffer", "old", "key"])).value;
    assert.deepEqual(stored, { encrypted: false });
  } finally {
    kv.close();
  }
});

Deno.test("a key check this runtime cannot deserialize, with no record stored, is refused with the key to delete", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    await writeOld(kv, "node", { encrypted: false });
    // As Deno reads a key check V8-serialized by Node.
    const foreign = hooked(kv, {
      get(key) {
        return key.at(-1) === "key"
          ? Promise.reject(new TypeError("could not deserialize value"))
          : Promise.resolve();
      },
    });
    await assert.rejects(
      EdgeBuffer.open({ kv: foreign, name: "node", telemetry: false }),
      new TypeError(
        'buffer "node" holds no record, but its key check ["bulwark","buffer","node","key"] ' +
          "cannot be deserialized here: delete that key to open the buffer with this version",
      ),
    );
    await kv.delete(["bulwark", "buffer", "node", "key"]);
    await using buffer = await EdgeBuffer.open({ kv, name: "node", telemetry: false });
    assert.equal(await buffer.enqueue(1), true);
    assert.deepEqual((await buffer.peek()).map((e) => e.id), ["3.0"]);
  } finally {
    kv.close();
  }
});
