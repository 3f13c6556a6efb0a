import assert from "node:assert/strict";
import { BufferDecryptError, EdgeBuffer } from "../../durable.ts";
import { tempKvPath } from "./_kv.ts";

const raw = { encode: (b: Uint8Array) => b, decode: (b: Uint8Array) => b };
const secret = new TextEncoder().encode("secret reading");

Deno.test("an encrypted buffer opened without its key, or with another, rejects with BufferDecryptError even with a pass-through codec; its events stay for the right key", async () => {
  const { path, cleanup } = await tempKvPath();
  const kv = await Deno.openKv(path);
  try {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const writer = await EdgeBuffer.open<Uint8Array>({ kv, encryptionKey: key, codec: raw });
    await writer.enqueue(secret);
    await writer.close();
    const other = crypto.getRandomValues(new Uint8Array(32));
    for (const encryptionKey of [undefined, other]) {
      const reader = await EdgeBuffer.open<Uint8Array>({
        kv,
        codec: raw,
        telemetry: false,
        ...(encryptionKey === undefined ? {} : { encryptionKey }),
      });
      const reason = encryptionKey === undefined
        ? "the buffer is encrypted and no encryptionKey was given"
        : "encryptionKey is not the buffer's key";
      for (const read of [() => reader.peek(1), () => reader.flush(() => Promise.resolve())]) {
        await assert.rejects(read(), (e) => {
          assert.ok(e instanceof BufferDecryptError);
          assert.equal(e.id, "0.0");
          assert.equal(String((e as Error).cause), `Error: ${reason}`);
          return true;
        });
      }
      // Nothing is written under a missing or wrong key either.
      await assert.rejects(reader.enqueue(secret), new Error(reason));
      assert.equal((await reader.stats()).count, 1);
      await reader.close();
    }
    await using right = await EdgeBuffer.open<Uint8Array>({
      kv,
      encryptionKey: key,
      codec: raw,
      telemetry: false,
    });
    assert.deepEqual((await right.peek()).map((e) => e.event), [secret]);
  } finally {
    kv.close();
    await cleanup();
  }
});

const NOT_ENCRYPTED = new TypeError(
  'encryptionKey was given, but buffer "plain" is not encrypted (its first open had no ' +
    "encryptionKey): open it without one",
);

Deno.test("an open with encryptionKey of a buffer first opened without one throws a TypeError; nothing is written", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const writer = await EdgeBuffer.open<Uint8Array>({ kv, name: "plain", codec: raw });
    await writer.enqueue(secret);
    await writer.close();
    const key = crypto.getRandomValues(new Uint8Array(32));
    await assert.rejects(
      EdgeBuffer.open<Uint8Array>({ kv, name: "plain", codec: raw, encryptionKey: key }),
      NOT_ENCRYPTED,
    );
    await using reader = await EdgeBuffer.open<Uint8Array>({ kv, name: "plain", codec: raw });
    assert.deepEqual((await reader.peek()).map((e) => e.event), [secret]);
  } finally {
    kv.close();
  }
});

/** `kv` whose first read of the key check lets `other` open the buffer and enqueue first. */
function racing(kv: Deno.Kv, other: () => Promise<void>): Deno.Kv {
  let raced = false;
  return {
    ...Object.fromEntries(
      (["getMany", "list", "atomic", "close"] as const).map((m) => [m, kv[m].bind(kv)]),
    ),
    async get(key: Deno.KvKey) {
      const entry = await kv.get(key);
      if (!raced && key.at(-1) === "key") {
        raced = true;
        await other();
      }
      return entry;
    },
  } as unknown as Deno.Kv;
}

Deno.test("two first opens, one with a key and one without: the second is refused, never mixes plaintext and sealed events", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const key = crypto.getRandomValues(new Uint8Array(32));
    const open = (k: Deno.Kv, name: string, encryptionKey?: Uint8Array) =>
      EdgeBuffer.open<Uint8Array>({
        kv: k,
        name,
        codec: raw,
        telemetry: false,
        ...(encryptionKey === undefined ? {} : { encryptionKey }),
      });
    const first = (name: string, encryptionKey?: Uint8Array) => async () => {
      const b = await open(kv, name, encryptionKey);
      assert.equal(await b.enqueue(secret), true);
      await b.close();
    };
    // Without a key first: the keyed open throws.
    await assert.rejects(open(racing(kv, first("plain")), "plain", key), NOT_ENCRYPTED);
    // With a key first: the key-less open writes nothing.
    const late = await open(racing(kv, first("sealed", key)), "sealed");
    await assert.rejects(
      late.enqueue(secret),
      new Error("the buffer is encrypted and no encryptionKey was given"),
    );
    await late.close();
    for (const [name, encryptionKey] of [["plain"], ["sealed", key]] as const) {
      await using b = await open(kv, name, encryptionKey);
      assert.deepEqual((await b.peek()).map((e) => [e.id, e.event]), [["0.0", secret]]);
    }
  } finally {
    kv.close();
  }
});
