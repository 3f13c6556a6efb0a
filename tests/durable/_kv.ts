// Helpers for the durable tests: temp KV files, child writers, raw reads.
import assert from "node:assert/strict";
import { decodeHead } from "../../src/durable/record.ts";

/** A temp dir holding `buffer.db`, removed by `cleanup()`. */
export async function tempKvPath(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await Deno.makeTempDir({ prefix: "bulwark-durable-" });
  return { path: `${dir}/buffer.db`, cleanup: () => Deno.remove(dir, { recursive: true }) };
}

/** A running writer child (see _writer_child.ts). */
export interface Writer {
  /** Lines printed so far ("ok w 12", "full w 13"). */
  lines: string[];
  /** Resolves when `lines.length >= n` or the output ended. */
  waitFor(n: number): Promise<void>;
  /** SIGKILLs the child (no-op when it exited) and waits for it and its output. */
  kill(): Promise<void>;
  /** Waits for a normal exit and its output; returns the exit code and stderr. */
  done(): Promise<{ code: number; stderr: string }>;
}

/** Starts a writer child with `plan`. */
export function startWriter(plan: Record<string, unknown>): Writer {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-kv",
      "--allow-read",
      "--allow-write",
      new URL("./_writer_child.ts", import.meta.url).pathname,
      JSON.stringify(plan),
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  let wake: () => void = () => {};
  let wanted = Infinity;
  const stderr = new Response(child.stderr).text();
  const reading = (async () => {
    let rest = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + text).split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
      if (lines.length >= wanted) wake();
    }
    wake();
  })();
  let ended = false;
  reading.then(() => (ended = true));
  return {
    lines,
    waitFor(n) {
      if (lines.length >= n || ended) return Promise.resolve();
      wanted = n;
      return new Promise((resolve) => (wake = resolve));
    },
    async kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await child.status;
      await reading;
      await stderr;
    },
    async done() {
      const status = await child.status;
      await reading;
      return { code: status.code, stderr: await stderr };
    },
  };
}

/**
 * Every event stored under a buffer's prefix, read from the raw KV entries
 * and checked for torn records (every chunk of every record present, in
 * place, none orphaned).
 */
export async function rawRecords(
  kv: Deno.Kv,
  name: string,
): Promise<Array<{ seq: number; idx: number; size: number }>> {
  const records: Array<{ seq: number; n: number; seen: number; total: number }> = [];
  const out: Array<{ seq: number; idx: number; size: number }> = [];
  for await (const e of kv.list({ prefix: ["bulwark", "buffer", name, "r"] })) {
    const [seq, chunk] = e.key.slice(4) as [number, number];
    if (chunk === 0) {
      assert.ok(e.value instanceof Uint8Array, `record ${seq} head stored as bytes`);
      const head = decodeHead(e.value);
      assert.ok(head !== undefined, `record ${seq} head is well-formed`);
      const total = head.size.reduce((sum, s) => sum + s, 0);
      assert.equal(head.n, Math.max(1, Math.ceil(total / 60_000)), `record ${seq} chunk count`);
      assert.equal(head.d.length, Math.min(total, 60_000), `record ${seq} first chunk`);
      head.idx.forEach((idx, i) => out.push({ seq, idx, size: head.size[i]! }));
      records.push({ seq, n: head.n, seen: 1, total });
    } else {
      assert.equal(records.at(-1)?.seq, seq, `chunk ${chunk} of ${seq} without its head`);
      assert.equal(records.at(-1)!.seen++, chunk, `chunk ${chunk} of ${seq} out of place`);
    }
  }
  for (const r of records) assert.equal(r.seen, r.n, `record ${r.seq} is torn`);
  return out;
}

/** The counters as stored. */
export async function rawCounters(
  kv: Deno.Kv,
  name: string,
): Promise<{ count: number; bytes: number }> {
  const [count, bytes] = await kv.getMany<[Deno.KvU64, Deno.KvU64]>([
    ["bulwark", "buffer", name, "count"],
    ["bulwark", "buffer", name, "bytes"],
  ]);
  return { count: Number(count!.value?.value ?? 0n), bytes: Number(bytes!.value?.value ?? 0n) };
}

/** An event id ("<record>.<index>") as a pair of numbers. */
export function idPair(id: string): [number, number] {
  const [seq, idx] = id.split(".").map(Number);
  return [seq!, idx!];
}

/** True when id `a` comes before id `b` (commit order, then index). */
export function idBefore(a: string, b: string): boolean {
  const [sa, ia] = idPair(a);
  const [sb, ib] = idPair(b);
  return sa < sb || (sa === sb && ia < ib);
}
