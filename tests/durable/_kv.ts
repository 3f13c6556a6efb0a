// Helpers for the durable tests: temp KV files, child writers, raw reads.
import assert from "node:assert/strict";

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

/** Every raw entry under a buffer's prefix, checked for torn records. */
export async function rawRecords(
  kv: Deno.Kv,
  name: string,
): Promise<Array<{ seq: number; size: number; chunks: number }>> {
  const out: Array<{ seq: number; size: number; chunks: number; seen: number }> = [];
  for await (const e of kv.list({ prefix: ["bulwark", "buffer", name, "r"] })) {
    const [seq, chunk] = e.key.slice(4) as [number, number];
    if (chunk === 0) {
      const head = e.value as { size: number; n: number; d: Uint8Array };
      out.push({ seq, size: head.size, chunks: head.n, seen: 1 });
      assert.equal(head.n, 1 + Math.max(0, Math.ceil(head.size / 60_000) - 1));
    } else {
      assert.equal(out.at(-1)?.seq, seq, `chunk ${chunk} of ${seq} without its head`);
      assert.equal(out.at(-1)!.seen++, chunk, `chunk ${chunk} of ${seq} out of place`);
    }
  }
  for (const r of out) assert.equal(r.seen, r.chunks, `record ${r.seq} is torn`);
  return out.map(({ seq, size, chunks }) => ({ seq, size, chunks }));
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
