/**
 * The key check of a buffer: at its first open, a namespace records
 * whether it is encrypted and, if so, a known value sealed with its key.
 * A later open without the key, or with another one, gets a sealer that
 * refuses every event, so `peek` and `flush` reject with
 * `BufferDecryptError` instead of returning ciphertext (a pass-through
 * codec would otherwise hand it out as data). Its first byte is the
 * namespace's record format: an open refuses a namespace of another format
 * (or of V8-serialized objects, as Bulwark wrote before) before it writes.
 *
 * @module
 */

import type { KvEntryMaybe } from "./kv.ts";
import type { KvRecords } from "./kv_records.ts";
import { RECORD_FORMAT, type RecordSealer } from "./record.ts";

const CHECK = new TextEncoder().encode("bulwark buffer key check");

/**
 * The value stored under the "key" key, as bytes (portable between Deno and
 * Node): the record format, 1 when encrypted (else 0), then, when
 * encrypted, {@link CHECK} sealed with the key (as record -1, event 0).
 */
function keyCheckBytes(encrypted: boolean, check?: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + (check?.length ?? 0));
  out[0] = RECORD_FORMAT;
  out[1] = encrypted ? 1 : 0;
  if (check !== undefined) out.set(check, 2);
  return out;
}

/**
 * The error for a namespace not in {@link RECORD_FORMAT}: written by an
 * earlier Bulwark, whose V8-serialized records only the runtime that wrote
 * them can read, or damaged. Thrown at open, before anything is written.
 */
function formatError(records: KvRecords, found: string, cause?: unknown): TypeError {
  return new TypeError(
    `buffer ${JSON.stringify(records.prefix[2])} is not in record format ${RECORD_FORMAT} ` +
      `(its key check ${found}): it was written by an earlier Bulwark, whose V8-serialized ` +
      `records only the runtime that wrote them can read, or it is damaged; flush it with ` +
      `the version that wrote it`,
    { cause },
  );
}

/** True when the namespace holds a record. */
async function hasRecords(records: KvRecords): Promise<boolean> {
  for await (const _ of records.kv.list({ prefix: records.recordPrefix }, { batchSize: 1 })) {
    return true;
  }
  return false;
}

/** The stored key check, checked to be of {@link RECORD_FORMAT}. */
async function readCheck(records: KvRecords): Promise<KvEntryMaybe<unknown>> {
  let stored: KvEntryMaybe<unknown>;
  let orphans = false;
  try {
    stored = await records.kv.get(records.keyCheckKey);
    if (stored.versionstamp === null && await hasRecords(records)) {
      // Another writer's first open may have written its key check and records since the
      // read: a key check is written before any record and never removed.
      stored = await records.kv.get(records.keyCheckKey);
      orphans = stored.versionstamp === null;
    }
  } catch (error) {
    // Deno: "could not deserialize value"; Node: "Unable to deserialize cloned data ...".
    if (error instanceof Error && /deserializ/i.test(error.message)) {
      throw formatError(records, "or a record cannot be deserialized here", error);
    }
    throw error;
  }
  if (orphans) {
    // Records without a key check: written before Bulwark stored one.
    throw formatError(records, "is missing while records are stored");
  }
  const v = stored.value;
  if (
    stored.versionstamp !== null &&
    !(v instanceof Uint8Array && v.length >= 2 && v[0] === RECORD_FORMAT && v[1]! <= 1)
  ) {
    throw formatError(
      records,
      v instanceof Uint8Array
        ? `is ${v.length} bytes, format byte ${v[0]}`
        : `is a V8-serialized ${v === null ? "null" : typeof v}`,
    );
  }
  return stored;
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
    const stored = await readCheck(records);
    if (stored.versionstamp === null) {
      const value = keyCheckBytes(
        encrypted,
        encrypted ? await sealer.seal(CHECK, name, -1, 0) : undefined,
      );
      const { ok } = await records.commit(() =>
        records.kv.atomic().check(stored).set(records.keyCheckKey, value)
      );
      if (ok) return sealer;
      continue; // another writer opened it first: use its check
    }
    const check = stored.value as Uint8Array;
    if (check[1] === 0) return sealer; // plaintext records: a key makes them fail to decrypt
    if (!encrypted) return refusing("the buffer is encrypted and no encryptionKey was given");
    if (!(await opens(sealer, name, check.subarray(2)))) {
      return refusing("encryptionKey is not the buffer's key");
    }
    return sealer;
  }
}
