/**
 * The part of the Deno KV API that Bulwark uses, as a structural type, so
 * that both `Deno.Kv` (Deno, Deno Deploy) and the `Kv` of npm `@deno/kv`
 * (Node) can be passed as `kv`. The library never imports `@deno/kv`: the
 * user opens the KV and passes it in.
 *
 * Nothing here constructs a `KvU64`: counters are only changed with `sum`,
 * whose amount is a plain `bigint` in both APIs, so a `kv` from either
 * runtime gets counters of its own `KvU64` class.
 *
 * @module
 */

/**
 * A key part, as in `Deno.KvKeyPart` (`@deno/kv` has the same without
 * `symbol`).
 */
export type KvKeyPart = Uint8Array | string | number | bigint | boolean | symbol;

/** A KV key, as in `Deno.KvKey`. */
export type KvKey = readonly KvKeyPart[];

/**
 * A KV entry that may be absent (`value` and `versionstamp` are `null`
 * then), as `Deno.KvEntryMaybe` but as one object type: `@deno/kv`'s
 * generic `get` fits it, not the two-member union.
 */
export interface KvEntryMaybe<T> {
  /** The key read. */
  key: KvKey;
  /** The value; `null` when the key is absent. */
  value: T | null;
  /** The value's versionstamp; `null` when the key is absent. */
  versionstamp: string | null;
}

/** A KV counter (`Deno.KvU64`, or `KvU64` of `@deno/kv`). */
export interface KvCounter {
  /** The counter's value. */
  readonly value: bigint;
}

/** An atomic check: the key must still have this versionstamp (`null`: absent). */
export interface KvCheck {
  /** The key checked. */
  key: KvKey;
  /** The versionstamp it must have; `null` for "absent". */
  versionstamp: string | null;
}

/** The result of a commit: `ok: false` when a check failed. */
export type KvCommitOutcome = { ok: true; versionstamp: string } | { ok: false };

/** The part of `Deno.AtomicOperation` that Bulwark uses. */
export interface KvAtomic {
  /** Adds checks: the commit fails (`ok: false`) unless every one holds. */
  check(...checks: KvCheck[]): this;
  /** Sets `key` to `value` (`expireIn`: a lower bound on its lifetime, in ms). */
  set(key: KvKey, value: unknown, options?: { expireIn?: number }): this;
  /** Deletes `key`. */
  delete(key: KvKey): this;
  /** Adds `n` (0 to 2^64 - 1, wrapping) to the counter at `key`. */
  sum(key: KvKey, n: bigint): this;
  /** Commits the checks and mutations as one transaction. */
  commit(): Promise<KvCommitOutcome>;
}

/**
 * The part of the Deno KV API that `./durable` and `./fleet` use: an open
 * `Deno.Kv` (`await Deno.openKv(path)`) or, on Node, the `Kv` of npm
 * `@deno/kv` (`await openKv(path)`) both fit.
 *
 * @example A Deno KV fits
 * ```ts
 * import type { KvLike } from "@bulwark/bulwark/durable";
 * import assert from "node:assert/strict";
 *
 * const kv: KvLike = await Deno.openKv(":memory:");
 * await kv.atomic().sum(["hits"], 2n).commit();
 * const hits = await kv.get<{ value: bigint }>(["hits"]);
 * assert.equal(hits.value?.value, 2n);
 * kv.close();
 * ```
 */
export interface KvLike {
  /** Reads one key. */
  get<T = unknown>(key: KvKey): Promise<KvEntryMaybe<T>>;
  /** Reads up to 10 keys in one snapshot. */
  getMany<T extends readonly unknown[]>(
    keys: readonly [...{ [K in keyof T]: KvKey }],
  ): Promise<{ [K in keyof T]: KvEntryMaybe<T[K]> }>;
  /** Sets one key (`expireIn`: a lower bound on its lifetime, in ms). */
  set(
    key: KvKey,
    value: unknown,
    options?: { expireIn?: number },
  ): Promise<{ ok: true; versionstamp: string }>;
  /** Deletes one key. */
  delete(key: KvKey): Promise<void>;
  /** Lists the entries under `prefix` (from `start`, to `end`), in key order. */
  list<T = unknown>(
    selector:
      | { prefix: KvKey }
      | { prefix: KvKey; start: KvKey }
      | { prefix: KvKey; end: KvKey }
      | { start: KvKey; end: KvKey },
    options?: { batchSize?: number },
  ): AsyncIterable<{ key: KvKey; value: T; versionstamp: string }>;
  /** Starts an atomic operation. */
  atomic(): KvAtomic;
  /** Closes the KV. */
  close(): void;
}

interface DenoKvRuntime {
  Deno?: { openKv?: (path?: string) => Promise<KvLike> };
}

/**
 * Opens `path` with `Deno.openKv` (none: Deploy's KV). Where there is no
 * `Deno.openKv` (Node; Deno without `--unstable-kv`) it throws a
 * `TypeError` that asks for `kv`.
 */
export async function openDenoKv(path: string | undefined): Promise<KvLike> {
  const openKv = (globalThis as DenoKvRuntime).Deno?.openKv;
  if (typeof openKv !== "function") {
    throw new TypeError(
      `kv must be given where Deno.openKv is missing (Node, or Deno without --unstable-kv): ` +
        `received ${
          path === undefined ? "neither path nor kv" : `path ${JSON.stringify(path)}`
        }; ` +
        `pass an open KV, e.g. kv: await openKv(path) from npm @deno/kv`,
    );
  }
  return await openKv(path);
}
