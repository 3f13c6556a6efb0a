/**
 * Hardening ("keep what holds"): 1,000,000 successful calls of a policy with
 * `telemetry: false` grow the heap by less than 1 MB.
 *
 * `deno test` does not expose `gc()` (and `--v8-flags=--expose-gc` is not in
 * the project's test command), so the measurement runs in a child
 * `deno eval --v8-flags=--expose-gc` with the project's config: warm-up,
 * forced GC, heapUsed, 1,000,000 calls, forced GC, heapUsed. When `gc` is
 * exposed to the test itself, it measures in process instead.
 */
import assert from "node:assert/strict";

const CALLS = 1_000_000;
const WARMUP = 100_000;
const LIMIT_BYTES = 1024 * 1024;

/** The measurement, as source; `gc` is V8's, exposed by --expose-gc. */
function script(policyUrl: string): string {
  return `
import { policy } from ${JSON.stringify(policyUrl)};
const p = policy("heap", {
  telemetry: false,
  deadlineMs: 1_000,
  attemptTimeoutMs: 500,
  retry: { maxAttempts: 3 },
});
const op = ({ attempt }) => attempt;
async function run(n) {
  for (let i = 0; i < n; i++) {
    if ((await p.execute(op)) !== 1) throw new Error("unexpected result");
  }
}
const gc = globalThis.gc;
await run(${WARMUP});
gc(); gc();
const before = Deno.memoryUsage().heapUsed;
await run(${CALLS});
gc(); gc();
const after = Deno.memoryUsage().heapUsed;
p[Symbol.dispose]();
console.log(JSON.stringify({ before, after }));
`;
}

async function measureInChild(): Promise<{ before: number; after: number }> {
  const config = new URL("../../deno.json", import.meta.url);
  const policyUrl = new URL("../../src/policy/policy.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "--quiet",
      "--config",
      config.pathname,
      "--v8-flags=--expose-gc",
      script(policyUrl),
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `child failed: ${stderr}`);
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

async function measureInProcess(gc: () => void): Promise<{ before: number; after: number }> {
  const { policy } = await import("../../src/policy/policy.ts");
  const p = policy("heap", {
    telemetry: false,
    deadlineMs: 1_000,
    attemptTimeoutMs: 500,
    retry: { maxAttempts: 3 },
  });
  const op = ({ attempt }: { attempt: number }) => attempt;
  const run = async (n: number) => {
    for (let i = 0; i < n; i++) assert.equal(await p.execute(op), 1);
  };
  await run(WARMUP);
  gc();
  gc();
  const before = Deno.memoryUsage().heapUsed;
  await run(CALLS);
  gc();
  gc();
  const after = Deno.memoryUsage().heapUsed;
  p[Symbol.dispose]();
  return { before, after };
}

Deno.test("heap: 1,000,000 successful calls (telemetry false) grow the heap < 1 MB", async () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const { before, after } = gc ? await measureInProcess(gc) : await measureInChild();
  const growth = after - before;
  if (Deno.env.get("BULWARK_HEAP_REPORT")) console.log({ before, after, growth });
  assert.ok(growth < LIMIT_BYTES, `heap grew ${growth} bytes (${before} -> ${after})`);
});
