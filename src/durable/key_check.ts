/**
 * The key check of a buffer: at its first open, a namespace records
 * whether it is encrypted and, if so, a known value sealed with its key.
 * A later open without the key, or with another one, gets a sealer that
 * refuses every event, so `peek` and `flush` reject with
 * `BufferDecryptError` instead of returning ciphertext (a pass-through
 * codec would otherwise hand it out as data); an open with a key of a
 * namespace first opened without one throws. Its first byte is the
 * namespace's record format: an open refuses a namespace whose records are
 * of another format (or V8-serialized objects, as Bulwark wrote before)
 * before it writes, and rewrites an earlier key check when no record is
 * stored.
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

/** The advice of {@link formatError}. */
const ADVICE = "it was written by an earlier Bulwark, whose V8-serialized records only the " +
  "runtime that wrote them can read, or it is damaged; flush it with the version (and on the " +
  "runtime) that wrote it: an open that finds no record stored rewrites an earlier key check";

/**
 * The error for a namespace with records not in {@link RECORD_FORMAT}:
 * written by an earlier Bulwark, whose V8-serialized records only the
 * runtime that wrote them can read, or damaged. Thrown at open, before
 * anything is written.
 */
function formatError(records: KvRecords, found: string, cause?: unknown): TypeError {
  return new TypeError(
    `buffer ${
      JSON.stringify(records.prefix[2])
    } is not in record format ${RECORD_FORMAT} (${found}): ${ADVICE}`,
    { cause },
  );
}

function isDeserializeError(error: unknown): error is Error {
  // Deno: "could not deserialize value"; Node: "Unable to deserialize cloned data ...".
  return error instanceof Error && /deserializ/i.test(error.message);
}

/** Reads the key check; the error instead when this runtime cannot deserialize it. */
async function readStored(records: KvRecords): Promise<KvEntryMaybe<unknown> | Error> {
  try {
    return await records.kv.get(records.keyCheckKey);
  } catch (error) {
    if (isDeserializeError(error)) return error;
    throw error;
  }
}

/** True when the namespace holds a record; refuses one this runtime cannot deserialize. */
async function hasRecords(records: KvRecords): Promise<boolean> {
  try {
    for await (const _ of records.kv.list({ prefix: records.recordPrefix }, { batchSize: 1 })) {
      return true;
    }
    return false;
  } catch (error) {
    if (isDeserializeError(error)) {
      throw formatError(records, "a record cannot be deserialized here", error);
    }
    throw error;
  }
}

/** True for a key check of {@link RECORD_FORMAT}. */
function isCurrent(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && v.length >= 2 && v[0] === RECORD_FORMAT && v[1]! <= 1;
}

/**
 * An earlier Bulwark's key check (a V8-serialized `{ encrypted, check }`)
 * as a key check of {@link RECORD_FORMAT}: the same flag and sealed value
 * (sealed the same way). `undefined` for anything else.
 */
function upgraded(v: unknown): Uint8Array | undefined {
  if (typeof v !== "object" || v === null || v instanceof Uint8Array) return undefined;
  const { encrypted, check } = v as { encrypted?: unknown; check?: unknown };
  if (encrypted === false && check === undefined) return keyCheckBytes(false);
  if (encrypted === true && check instanceof Uint8Array) return keyCheckBytes(true, check);
  return undefined;
}

/** What a key check not of {@link RECORD_FORMAT} is, for an error message. */
function described(stored: KvEntryMaybe<unknown> | Error): string {
  if (stored instanceof Error) return "cannot be deserialized here";
  const v = stored.value;
  return v instanceof Uint8Array
    ? `is ${v.length} bytes, format byte ${v[0]}`
    : `is a V8-serialized ${v === null ? "null" : typeof v}`;
}

/**
 * The stored key check, of {@link RECORD_FORMAT} (or absent, with no
 * record stored). An earlier key check with no record stored (the buffer
 * was flushed by the version that wrote it) is rewritten in this format,
 * in an atomic that checks it and `"next"`, which every enqueue advances:
 * a writer of the earlier version enqueueing meanwhile makes it fail, and
 * the key check is read again.
 */
async function readCheck(records: KvRecords): Promise<KvEntryMaybe<unknown>> {
  for (;;) {
    const next = await records.kv.get(records.nextKey);
    const stored = await readStored(records);
    if (!(stored instanceof Error) && isCurrent(stored.value)) return stored;
    const stores = await hasRecords(records);
    if (!(stored instanceof Error) && stored.versionstamp === null) {
      if (!stores) return stored;
      // Another writer's first open may have written its key check and records since the
      // read: a key check is written before any record and never removed.
      const again = await readStored(records);
      if (again instanceof Error || again.versionstamp !== null) continue;
      // Records without a key check: written before Bulwark stored one.
      throw formatError(records, "its key check is missing while records are stored");
    }
    const cause = stored instanceof Error ? stored : undefined;
    if (stores) throw formatError(records, `its key check ${described(stored)}`, cause);
    const value = stored instanceof Error ? undefined : upgraded(stored.value);
    if (value === undefined) {
      throw new TypeError(
        `buffer ${JSON.stringify(records.prefix[2])} holds no record, but its key check ${
          JSON.stringify(records.keyCheckKey)
        } ${described(stored)}: delete that key to open the buffer with this version`,
        { cause },
      );
    }
    await records.commit(() =>
      records.kv.atomic().check(stored as KvEntryMaybe<unknown>, next).set(
        records.keyCheckKey,
        value,
      )
    );
    // Read again: the rewritten key check, or what a concurrent writer left.
  }
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
    if (check[1] === 0) {
      if (!encrypted) return sealer;
      // Its records are plaintext: sealed events among them would be handed to a key-less
      // reader as data.
      throw new TypeError(
        `encryptionKey was given, but buffer ${
          JSON.stringify(name)
        } is not encrypted (its first open had no ` +
          `encryptionKey): open it without one`,
      );
    }
    if (!encrypted) return refusing("the buffer is encrypted and no encryptionKey was given");
    if (!(await opens(sealer, name, check.subarray(2)))) {
      return refusing("encryptionKey is not the buffer's key");
    }
    return sealer;
  }
}
