/**
 * The key check of a buffer: at its first open, a namespace records
 * whether it is encrypted and, if so, a known value sealed with its key.
 * A later open without the key, or with another one, gets a sealer that
 * refuses every event, so `peek` and `flush` reject with
 * `BufferDecryptError` instead of returning ciphertext (a pass-through
 * codec would otherwise hand it out as data).
 *
 * @module
 */

import type { KvRecords } from "./kv_records.ts";
import type { RecordSealer } from "./record.ts";

/** What the namespace stores under its "key" key. */
interface KeyCheck {
  encrypted: boolean;
  /** {@link CHECK} sealed with the key (as record -1, event 0), when encrypted. */
  check?: Uint8Array;
}

const CHECK = new TextEncoder().encode("bulwark buffer key check");

function isKeyCheck(value: unknown): value is KeyCheck {
  const v = value as KeyCheck;
  return typeof v === "object" && v !== null && typeof v.encrypted === "boolean" &&
    (v.check === undefined || v.check instanceof Uint8Array);
}

/** A sealer that refuses every event: the buffer's key is missing or wrong. */
function refusing(reason: string): RecordSealer {
  return {
    overhead: 0,
    seal: () => Promise.reject(new Error(reason)),
    open: () => Promise.reject(new Error(reason)),
  };
}

async function opens(sealer: RecordSealer, name: string, check: Uint8Array): Promise<boolean> {
  try {
    const opened = await sealer.open(check, name, -1, 0);
    return opened.length === CHECK.length && opened.every((b, i) => b === CHECK[i]);
  } catch {
    return false;
  }
}

/**
 * Returns `sealer` when it matches the namespace's key check (written now
 * on a first open), else a sealer that refuses every event. `encrypted`
 * says whether `sealer` encrypts.
 *
 * @example
 * ```ts
 * import { checkedSealer } from "./key_check.ts";
 * import { KvRecords } from "./kv_records.ts";
 * import { PLAIN } from "./record.ts";
 * import assert from "node:assert/strict";
 *
 * const kv = await Deno.openKv(":memory:");
 * const records = new KvRecords(kv, "readings");
 * assert.equal(await checkedSealer(records, "readings", PLAIN, false), PLAIN);
 * kv.close();
 * ```
 */
export async function checkedSealer(
  records: KvRecords,
  name: string,
  sealer: RecordSealer,
  encrypted: boolean,
): Promise<RecordSealer> {
  for (;;) {
    const stored = await records.kv.get(records.keyCheckKey);
    if (stored.versionstamp === null) {
      const value: KeyCheck = encrypted
        ? { encrypted, check: await sealer.seal(CHECK, name, -1, 0) }
        : { encrypted };
      const { ok } = await records.commit(() =>
        records.kv.atomic().check(stored).set(records.keyCheckKey, value)
      );
      if (ok) return sealer;
      continue; // another writer opened it first: use its check
    }
    if (!isKeyCheck(stored.value)) {
      throw new TypeError(`${records.keyCheckKey.join("/")} is not a buffer key check`);
    }
    const check = stored.value;
    if (!check.encrypted) return sealer; // plaintext records: a key makes them fail to decrypt
    if (!encrypted) return refusing("the buffer is encrypted and no encryptionKey was given");
    if (!(await opens(sealer, name, check.check!))) {
      return refusing("encryptionKey is not the buffer's key");
    }
    return sealer;
  }
}
