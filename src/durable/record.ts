/**
 * How events are stored in Deno KV: each event's bytes (encoded by the
 * codec, then sealed with AES-256-GCM when a key is set), packed with the
 * other events of its group commit into records under
 * `[...prefix, "r", seq, chunk]`; chunk 0 carries the record's head.
 *
 * @module
 */

import { ResilienceError } from "../core/errors.ts";

/**
 * Bytes of data per KV value. Deno KV takes values of up to 65,536 bytes
 * (DESIGN.md §4); a chunk leaves room for the head's header and the
 * value's own serialization.
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

/**
 * The record format this version writes and reads: the first byte of every
 * record head and of the key check (key_check.ts). Every value a buffer
 * stores is a `Uint8Array` (or a KvU64 counter): KV stores bytes the same
 * way on Deno and on Node (npm `@deno/kv`), while V8-serialized objects of
 * one runtime cannot be read by the other.
 */
export const RECORD_FORMAT = 1;

/** Header bytes of a head: format (u8), events (u16), chunks (u16). */
const HEADER_BYTES = 5;
/** Head bytes per event: enqueue time (f64), stored size (u32), index (u32), little-endian. */
const EVENT_BYTES = 16;

/**
 * Chunk 0 of a record, decoded. A record holds the events of one group
 * commit that fit in one KV value (or one large event split into chunks);
 * per event, in order: its enqueue time, stored size and index in the
 * record as written (`idx`, part of its id; a partly removed record keeps
 * the indexes of the events left). Stored as bytes: the header, 16 bytes
 * per event, then `d`.
 */
export interface RecordHead {
  /** Clock time of each event's enqueue (ms). */
  at: number[];
  /** Stored bytes of each event. */
  size: number[];
  /** Index of each event in the record as first written. */
  idx: number[];
  /** Number of chunks: 1, or more for a single large event. */
  n: number;
  /** The first chunk of the events' stored bytes, concatenated. */
  d: Uint8Array;
}

/** Head bytes assumed per event when packing (16 written; the rest is slack). */
export const PER_EVENT_BYTES = 24;

/**
 * Most events one record holds: about a flush batch, so that a flush
 * mostly deletes whole records and rewrites at most one partly sent one.
 */
export const MAX_EVENTS_PER_RECORD = 100;

/** True when an event of `size` stored bytes shares a record with others (else it gets its own). */
export function packable(size: number): boolean {
  return size + PER_EVENT_BYTES <= CHUNK_BYTES;
}

/** One event of a record: its index, enqueue time and stored bytes. */
export interface StoredEvent {
  idx: number;
  at: number;
  bytes: Uint8Array;
}

/** Bytes of a one-chunk record head holding `events` events of `bytes` stored bytes in all. */
export function headLength(events: number, bytes: number): number {
  return HEADER_BYTES + events * EVENT_BYTES + bytes;
}

/** Builds a record's values (the head's bytes, then the further chunks) from its events. */
export function buildRecord(events: readonly StoredEvent[]): Uint8Array[] {
  const total = events.reduce((sum, e) => sum + e.bytes.length, 0);
  const n = Math.max(1, Math.ceil(total / CHUNK_BYTES));
  const start = HEADER_BYTES + events.length * EVENT_BYTES;
  const head = new Uint8Array(start + Math.min(total, CHUNK_BYTES));
  const view = new DataView(head.buffer);
  view.setUint8(0, RECORD_FORMAT);
  view.setUint16(1, events.length, true);
  view.setUint16(3, n, true);
  events.forEach((e, i) => {
    const at = HEADER_BYTES + i * EVENT_BYTES;
    view.setFloat64(at, e.at, true);
    view.setUint32(at + 8, e.bytes.length, true);
    view.setUint32(at + 12, e.idx, true);
  });
  if (n === 1) {
    let offset = start;
    for (const e of events) {
      head.set(e.bytes, offset);
      offset += e.bytes.length;
    }
    return [head];
  }
  // A record of several chunks holds one large event.
  const data = events[0]!.bytes;
  head.set(data.subarray(0, CHUNK_BYTES), start);
  const rest: Uint8Array[] = [];
  // slice, not subarray: KV would store a view's whole underlying buffer.
  for (let i = 1; i < n; i++) rest.push(data.slice(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES));
  return [head, ...rest];
}

/**
 * Decodes a record head as stored; `undefined` for anything that is not a
 * well-formed head of {@link RECORD_FORMAT} (a foreign or damaged value).
 */
export function decodeHead(value: unknown): RecordHead | undefined {
  if (!(value instanceof Uint8Array) || value.length < HEADER_BYTES) return undefined;
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const events = view.getUint16(1, true);
  const n = view.getUint16(3, true);
  const start = HEADER_BYTES + events * EVENT_BYTES;
  if (
    view.getUint8(0) !== RECORD_FORMAT || events < 1 || n < 1 || (n > 1 && events !== 1) ||
    value.length < start
  ) {
    return undefined;
  }
  const head: RecordHead = { at: [], size: [], idx: [], n, d: value.subarray(start) };
  let total = 0;
  for (let i = 0; i < events; i++) {
    const at = HEADER_BYTES + i * EVENT_BYTES;
    head.at.push(view.getFloat64(at, true));
    head.size.push(view.getUint32(at + 8, true));
    head.idx.push(view.getUint32(at + 12, true));
    total += head.size[i]!;
  }
  const whole = n === Math.max(1, Math.ceil(total / CHUNK_BYTES)) &&
    head.d.length === Math.min(total, CHUNK_BYTES);
  return whole ? head : undefined;
}

/** The events of a record, read back from its head and further chunks. */
export function recordEvents(head: RecordHead, rest: readonly Uint8Array[]): StoredEvent[] {
  let data = head.d;
  if (head.n > 1) {
    data = new Uint8Array(head.size.reduce((sum, s) => sum + s, 0));
    data.set(head.d);
    let offset = head.d.length;
    for (const chunk of rest) {
      data.set(chunk, offset);
      offset += chunk.length;
    }
  }
  const out: StoredEvent[] = [];
  let offset = 0;
  for (let i = 0; i < head.idx.length; i++) {
    const size = head.size[i]!;
    out.push({ idx: head.idx[i]!, at: head.at[i]!, bytes: data.subarray(offset, offset + size) });
    offset += size;
  }
  return out;
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
  /** Encrypts event `idx` of record `seq` of buffer `name`, its key ({@link recordAad}) as additional data. */
  seal(plain: Uint8Array, name: string, seq: number, idx: number): Promise<Uint8Array> | Uint8Array;
  /** Decrypts; rejects when the key or the data is wrong. */
  open(
    sealed: Uint8Array,
    name: string,
    seq: number,
    idx: number,
  ): Promise<Uint8Array> | Uint8Array;
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
    async seal(plain, name, seq, idx) {
      const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES));
      const sealed = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: recordAad(name, seq, idx) as BufferSource },
        key,
        plain as Uint8Array<ArrayBuffer>,
      );
      const out = new Uint8Array(IV_BYTES + sealed.byteLength);
      out.set(iv);
      out.set(new Uint8Array(sealed), IV_BYTES);
      return out;
    },
    async open(sealed, name, seq, idx) {
      const plain = await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: sealed.subarray(0, IV_BYTES) as BufferSource,
          additionalData: recordAad(name, seq, idx) as BufferSource,
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

/** The additional data of event `idx` of record `seq` of buffer `name`: its key and index. */
export function recordAad(name: string, seq: number, idx: number): Uint8Array {
  return encoder.encode(`bulwark/buffer/${name}/r/${seq}/${idx}`);
}
