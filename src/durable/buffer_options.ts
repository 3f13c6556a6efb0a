/**
 * Options of an {@link EdgeBuffer}, their defaults and their checks.
 *
 * @module
 */

import { type Clock, clockOption } from "../core/clock.ts";
import type { EventListener } from "../core/events.ts";
import {
  functionValue,
  integerAtLeast,
  knownKeys,
  nameOption,
  numberAbove,
  objectValue,
  rangeError,
  typeError,
} from "../core/validate.ts";
import { TELEMETRY_OPTION_KEYS, type TelemetryOptions } from "../telemetry/telemetry_options.ts";
import type { KvLike } from "./kv.ts";

/** Turns events into bytes and back. */
export interface BufferCodec<T> {
  /** Encodes one event. */
  encode(event: T): Uint8Array;
  /** Decodes what {@link BufferCodec.encode} produced. */
  decode(bytes: Uint8Array): T;
}

/** What a full buffer does with a new event. */
export type OnFull = "reject" | "drop_oldest";

/** Options of `EdgeBuffer.open`. */
export interface EdgeBufferOptions<T> {
  /**
   * A Deno KV path or `":memory:"`, opened with `Deno.openKv` (Deno only). Neither `path` nor
   * `kv`: `Deno.openKv()` (Deploy's KV).
   */
  path?: string;
  /**
   * An open KV to use, which the buffer does not close: a `Deno.Kv`, or on Node the `Kv` of npm
   * `@deno/kv` (`await openKv("buffer.db")`).
   */
  kv?: KvLike;
  /** Key namespace, so several buffers may share one KV. @default {"default"} */
  name?: string;
  /** Most stored bytes (after the codec and encryption). @default {1_048_576_000} (1,000 MiB) */
  maxSizeBytes?: number;
  /** Events older than this (strictly) expire and are never delivered. @default {604_800_000} (168 h) */
  maxAgeMs?: number;
  /** `"reject"`: a new event is refused while full; `"drop_oldest"`: the oldest go. @default {"reject"} */
  onFull?: OnFull;
  /** AES-256-GCM key: 32 bytes, or an AES-GCM `CryptoKey` of 256 bits. Default: no encryption. */
  encryptionKey?: Uint8Array | CryptoKey;
  /** Event encoding. Default: JSON (UTF-8). */
  codec?: BufferCodec<T>;
  /** Time source for `enqueuedAt` and expiry. @default {systemClock} */
  clock?: Clock;
  /** Receives `buffer_dropped` and `buffer_flushed` events. */
  onEvent?: EventListener;
  /** OpenTelemetry settings; `false` turns telemetry off. Default on (global API). */
  telemetry?: TelemetryOptions | false;
}

/** The keys of {@link EdgeBufferOptions}. */
export const EDGE_BUFFER_OPTION_KEYS: readonly string[] = [
  "path",
  "kv",
  "name",
  "maxSizeBytes",
  "maxAgeMs",
  "onFull",
  "encryptionKey",
  "codec",
  "clock",
  "onEvent",
  "telemetry",
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The default codec: JSON text as UTF-8. */
export const JSON_CODEC: BufferCodec<unknown> = {
  encode: (event) => {
    const text = JSON.stringify(event);
    if (text === undefined) typeError("event", "JSON-serializable", event);
    return encoder.encode(text);
  },
  decode: (bytes) => JSON.parse(decoder.decode(bytes)),
};

/** Checked options with defaults applied. */
export interface ResolvedBufferOptions<T> {
  path: string | undefined;
  kv: KvLike | undefined;
  name: string;
  maxSizeBytes: number;
  maxAgeMs: number;
  onFull: OnFull;
  encryptionKey: Uint8Array | CryptoKey | undefined;
  codec: BufferCodec<T>;
  clock: Clock;
  onEvent: EventListener | undefined;
  telemetry: TelemetryOptions | false;
}

function checkKey(key: unknown): Uint8Array | CryptoKey | undefined {
  if (key === undefined) return undefined;
  const rule = "a 32-byte Uint8Array or an AES-GCM CryptoKey of 256 bits";
  if (key instanceof Uint8Array) {
    if (key.length !== 32) {
      throw new RangeError(`encryptionKey must be ${rule}: received ${key.length} bytes`);
    }
    return key;
  }
  if (typeof CryptoKey !== "undefined" && key instanceof CryptoKey) {
    const algorithm = key.algorithm as AesKeyAlgorithm;
    if (algorithm.name !== "AES-GCM" || algorithm.length !== 256) {
      throw new RangeError(
        `encryptionKey must be ${rule}: received a ${algorithm.name} key of ${algorithm.length} bits`,
      );
    }
    return key;
  }
  return typeError("encryptionKey", rule, key);
}

/** Checks `options` (unknown keys, types, ranges) and applies the defaults. */
export function resolveBufferOptions<T>(options: EdgeBufferOptions<T>): ResolvedBufferOptions<T> {
  objectValue("options", options);
  knownKeys("", options, EDGE_BUFFER_OPTION_KEYS);
  const o = options as Record<string, unknown>;
  if (o.path !== undefined && typeof o.path !== "string") typeError("path", "a string", o.path);
  if (o.path !== undefined && o.kv !== undefined) {
    throw new TypeError("path and kv must not both be given: pass one of them");
  }
  if (
    o.kv !== undefined &&
    (typeof o.kv !== "object" || o.kv === null || typeof (o.kv as KvLike).atomic !== "function")
  ) {
    typeError("kv", "an open KV (Deno.Kv, or Kv of npm @deno/kv)", o.kv);
  }
  const onFull = o.onFull ?? "reject";
  if (onFull !== "reject" && onFull !== "drop_oldest") {
    if (typeof onFull !== "string") typeError("onFull", '"reject" or "drop_oldest"', onFull);
    rangeError("onFull", '"reject" or "drop_oldest"', onFull);
  }
  const codec = o.codec ?? JSON_CODEC;
  objectValue("codec", codec);
  functionValue("codec.encode", (codec as BufferCodec<T>).encode);
  functionValue("codec.decode", (codec as BufferCodec<T>).decode);
  const telemetry = o.telemetry ?? {};
  if (telemetry !== false) {
    objectValue("telemetry", telemetry);
    knownKeys("telemetry", telemetry, TELEMETRY_OPTION_KEYS);
  }
  if (o.onEvent !== undefined) functionValue("onEvent", o.onEvent);
  return {
    path: o.path as string | undefined,
    kv: o.kv as KvLike | undefined,
    name: nameOption("name", o.name, "default"),
    maxSizeBytes: integerAtLeast("maxSizeBytes", o.maxSizeBytes ?? 1_000 * 1024 * 1024, 1),
    maxAgeMs: numberAbove("maxAgeMs", o.maxAgeMs ?? 168 * 3_600_000, 0),
    onFull,
    encryptionKey: checkKey(o.encryptionKey),
    codec: codec as BufferCodec<T>,
    clock: clockOption(o.clock, ["now"], "a Clock (with now)"),
    onEvent: o.onEvent as EventListener | undefined,
    telemetry: telemetry as TelemetryOptions | false,
  };
}
