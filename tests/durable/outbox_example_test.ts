import assert from "node:assert/strict";

Deno.test("examples/outbox.ts buffers readings while the collector is down and delivers all 30 in order", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--unstable-kv",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      new URL("../../examples/outbox.ts", import.meta.url).pathname,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(out, /collector down: 20 of 20 readings waiting in the outbox/);
  assert.match(out, /delivered 30 readings in \d+ batches after [1-9]\d* failed sends/);
  assert.match(out, /collector received 30 readings, in order: true/);
});
