// Must-show 2 with real processes: three instances share one circuit through
// a KV file; at most one probe runs across them; the probe holder is killed
// with SIGKILL; another instance probes once the lease expired, and its
// success closes the circuit everywhere.
import assert from "node:assert/strict";
import { kvStateStore } from "../../fleet.ts";

/** Test code resolves through the development config (and its lockfile), as `deno test` does. */
const DEV_CONFIG = new URL("../../dev/deno.json", import.meta.url).pathname;
const WORKER = new URL("./_probe_worker.ts", import.meta.url).pathname;
const LEASE_MS = 800;

interface Line {
  child: number;
  text: string;
  at: number;
}

Deno.test("half-open across three processes: one probe, kill -9 the holder, another probes after the lease", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/fleet.db`;
  const release = `${dir}/release`;
  const children = ["a", "b", "c"].map((id) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        DEV_CONFIG,
        "--unstable-kv",
        WORKER,
        JSON.stringify({ id, path, release, leaseMs: LEASE_MS }),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn()
  );
  const lines: Line[] = [];
  const readers = children.map(async (child, i) => {
    let buffer = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buffer += chunk;
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        lines.push({ child: i, text: buffer.slice(0, nl), at: Date.now() });
        buffer = buffer.slice(nl + 1);
      }
    }
  });
  const waitFor = async (pred: (l: Line) => boolean, timeoutMs = 10_000): Promise<Line> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find(pred);
      if (found !== undefined) return found;
      if (Date.now() > end) throw new Error(`timed out; lines: ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const store = await kvStateStore({ path });
  try {
    for (let i = 0; i < 3; i++) await waitFor((l) => l.child === i && l.text === "ready");
    // The fleet's circuit is open; its break (200 ms) ends soon.
    const opened = await store.transition("circuit:dep", 0, {
      version: 1,
      state: "open",
      openedAt: Date.now(),
      breakMs: 200,
      opens: 1,
    });
    assert.equal(opened.won, true);
    for (const child of children) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
    }
    const first = await waitFor((l) => l.text.startsWith("probe "));
    await new Promise((r) => setTimeout(r, LEASE_MS / 2));
    assert.equal(
      lines.filter((l) => l.text.startsWith("probe ")).length,
      1,
      `one probe in the fleet: ${JSON.stringify(lines)}`,
    );
    children[first.child].kill("SIGKILL"); // the holder dies with its lease
    await Deno.writeTextFile(release, "");
    const second = await waitFor((l) => l.text.startsWith("probe ") && l.child !== first.child);
    const stamp = (l: Line) => Number(l.text.split(" ")[2]);
    const waited = Math.round(stamp(second) - stamp(first));
    console.log(`second probe ${waited} ms after the first (lease ${LEASE_MS} ms, claimed for 2x)`);
    // The first probe started within one lease of its claim; the claim is held for two.
    assert.ok(waited >= LEASE_MS - 100, `${waited} ms`);
    const others = [0, 1, 2].filter((i) => i !== first.child);
    for (const i of others) {
      assert.equal((await children[i].status).code, 0, JSON.stringify(lines));
    }
    assert.equal((await children[first.child].status).signal, "SIGKILL");
    await Promise.all(readers);
    const prober = others.find((i) => i === second.child)!;
    const bystander = others.find((i) => i !== second.child)!;
    const transitions = (i: number) =>
      lines.filter((l) => l.child === i && l.text.startsWith("state ")).map((l) =>
        l.text.split(" ").slice(2).join(" ")
      );
    const all = JSON.stringify(lines);
    assert.deepEqual(transitions(prober), [
      "closed->open fleet",
      "open->half_open break_elapsed",
      "half_open->closed probe_success",
    ], all);
    assert.deepEqual(transitions(bystander), ["closed->open fleet", "open->closed fleet"], all);
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
    }
    await Promise.all(children.map((c) => c.status));
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
