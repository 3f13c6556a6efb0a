/**
 * How one event is stored in Deno KV: its bytes (encoded by the codec,
 * then sealed with AES-256-GCM when a key is set) split into chunks under
 * `[...prefix, "r", seq, chunk]`. Chunk 0 carries the record's header.
 *
 * @module
 */

import { ResilienceError } from "../core/errors.ts";

/**
 * Bytes of data per KV value. Deno KV takes values of up to 65,536 bytes
 * (DESIGN.md §4); a chunk leaves room for the header and the value's own
 * serialization.
 */
export const CHUNK_BYTES = 60_000;

/**
 * The largest event a buffer accepts, in stored bytes (after the codec and
 * encryption): 768 KiB. One atomic takes at most 819,200 bytes of keys and
 * values (DESIGN.md §4), and an event's chunks are written in one atomic.
 */
export const MAX_EVENT_BYTES = 768 * 1024;

/** AES-GCM IV length in bytes (96 bits, as NIST SP 800-38D recommends). */
const IV_BYTES = 12;

/** Chunk 0 of a record as stored in KV. */
export interface RecordHead {
  /** Clock time of the enqueue (ms). */
  at: number;
  /** Stored bytes of the whole record (all chunks). */
  size: number;
  /** Number of chunks, 1 or more. */
  n: number;
  /** The first chunk's bytes. */
  d: Uint8Array;
}

/**
 * A record of a durable buffer cannot be decrypted: the buffer was opened
 * with a different `encryptionKey` than the one it was written with (or
 * none), or the stored bytes were altered. Never garbage instead.
 *
 * @example
 * ```ts
 * import { BufferDecryptError } from "@bulwark/bulwark/durable";
 * import assert from "node:assert/strict";
 *
 * const err = new BufferDecryptError("readings", "7");
 * assert.equal(err.id, "7");
 * assert.match(err.message, /record 7 of buffer "readings" cannot be decrypted/);
 * ```
 */
export class BufferDecryptError extends ResilienceError {
  /** The id of the record that could not be decrypted. */
  readonly id: string;

  /** Creates the error for record `id` of buffer `buffer`. */
  constructor(buffer: string, id: string, cause?: unknown) {
    super(
      `record ${id} of buffer ${
        JSON.stringify(buffer)
      } cannot be decrypted: wrong encryptionKey or altered data`,
      { policy: buffer, cause },
    );
    this.id = id;
  }
}

/** Seals and opens record bytes; the plain variant passes them through. */
export interface RecordSealer {
  /** Encrypts record `seq` of buffer `name`, its key (see {@link recordAad}) as additional data. */
  seal(plain: Uint8Array, name: string, seq: number): Promise<Uint8Array> | Uint8Array;
  /** Decrypts; rejects when the key or the data is wrong. */
  open(sealed: Uint8Array, name: string, seq: number): Promise<Uint8Array> | Uint8Array;
  /** Bytes `seal` adds. */
  readonly overhead: number;
}

/** No encryption. */
export const PLAIN: RecordSealer = {
  seal: (plain) => plain,
  open: (sealed) => sealed,
  overhead: 0,
};

/** AES-256-GCM with a random 96-bit IV per record, stored before the ciphertext. */
export function aesGcmSealer(key: CryptoKey): RecordSealer {
  return {
    overhead: IV_BYTES + 16,
    async seal(plain, name, seq) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: recordAad(name, seq) as BufferSource },
        key,
        plain as Uint8Array<ArrayBuffer>,
      );
      const out = new Uint8Array(IV_BYTES + sealed.byteLength);
      out.set(iv);
      out.set(new Uint8Array(sealed), IV_BYTES);
      return out;
    },
    async open(sealed, name, seq) {
      const plain = await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: sealed.subarray(0, IV_BYTES) as BufferSource,
          additionalData: recordAad(name, seq) as BufferSource,
        },
        key,
        sealed.subarray(IV_BYTES) as Uint8Array<ArrayBuffer>,
      );
      return new Uint8Array(plain);
    },
  };
}

/** Imports a 32-byte key for AES-256-GCM (a CryptoKey is used as given). */
export async function importKey(key: Uint8Array | CryptoKey): Promise<CryptoKey> {
  if (!(key instanceof Uint8Array)) return key;
  return await crypto.subtle.importKey(
    "raw",
    key as Uint8Array<ArrayBuffer>,
    { name: "AES-GCM" },
    false,
    ["encrypt", "decrypt"],
  );
}

const encoder = new TextEncoder();

/** The additional data of record `seq` of buffer `name`: its KV key, written out. */
export function recordAad(name: string, seq: number): Uint8Array {
  return encoder.encode(`bulwark/buffer/${name}/r/${seq}`);
}

/** Splits stored bytes into KV values: the head (chunk 0) and the rest. */
export function toChunks(bytes: Uint8Array, at: number): [RecordHead, ...Uint8Array[]] {
  const n = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
  const head: RecordHead = {
    at,
    size: bytes.length,
    n,
    d: n === 1 && bytes.byteLength === bytes.buffer.byteLength
      ? bytes
      : bytes.slice(0, CHUNK_BYTES),
  };
  const rest: Uint8Array[] = [];
  for (let i = 1; i < n; i++) rest.push(bytes.slice(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
  return [head, ...rest];
}

/** Joins a record's chunks back into its stored bytes. */
export function fromChunks(head: RecordHead, rest: readonly Uint8Array[]): Uint8Array {
  if (head.n === 1) return head.d;
  const out = new Uint8Array(head.size);
  out.set(head.d);
  let offset = head.d.length;
  for (const chunk of rest) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** True for a well-formed record head (anything else is a foreign or damaged value). */
export function isHead(value: unknown): value is RecordHead {
  const v = value as RecordHead;
  return typeof v === "object" && v !== null && typeof v.at === "number" &&
    typeof v.size === "number" && Number.isInteger(v.n) && v.n >= 1 &&
    v.d instanceof Uint8Array;
}
