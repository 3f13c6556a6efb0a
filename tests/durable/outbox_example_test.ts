import assert from "node:assert/strict";
import { EdgeBuffer } from "../../durable.ts";
import { systemClock } from "../../src/core/clock.ts";
import { tempKvPath } from "./_kv.ts";
import { runExample } from "../_examples.ts";

Deno.test("examples/outbox.ts buffers readings while the collector is down and delivers all 30 in order", async () => {
  const { code, stdout: out, stderr } = await runExample("examples/outbox.ts", [
    "--unstable-kv",
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
  ]);
  assert.equal(code, 0, stderr);
  assert.match(out, /collector down: 20 of 20 readings waiting in the outbox/);
  assert.match(out, /delivered 30 readings in \d+ batches after [1-9]\d* failed sends/);
  assert.match(out, /collector received 30 readings, in order: true/);
});

Deno.test("examples/outbox.ts closes the outbox on SIGINT and leaves undelivered readings in its KV file", async () => {
  const { path, cleanup } = await tempKvPath();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--unstable-kv",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "--allow-write",
        new URL("../../examples/outbox.ts", import.meta.url).pathname,
        path,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    // Wait until a few readings are stored (the collector is down for the first 20).
    await using buffer = await EdgeBuffer.open({ path, name: "readings", telemetry: false });
    for (let i = 0; i < 2_000 && (await buffer.stats()).count < 3; i++) await systemClock.sleep(5);
    child.kill("SIGINT");
    const { code, stdout, stderr } = await output;
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 130, new TextDecoder().decode(stderr));
    const left = Number(/interrupted: (\d+) readings left in the outbox/.exec(out)?.[1]);
    assert.ok(left >= 3 && left < 20, out);
    // The next start finds them, in order.
    const stored = await buffer.peek(100);
    assert.equal(stored.length, left);
    assert.deepEqual(
      stored.map((e) => (e.event as { n: number }).n),
      Array.from({ length: left }, (_, i) => i),
    );
  } finally {
    await cleanup();
  }
});
