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
