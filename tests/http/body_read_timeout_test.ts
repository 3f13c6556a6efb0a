// A stalled streamed request body is the caller's problem: a permanent failure, counted as a
// timeout, never retried, never held against the circuit.
import assert from "node:assert/strict";
import { createClient } from "../../src/http/client.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";

function stalledStream() {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new TextEncoder().encode("x"));
    },
  });
}

Deno.test("body-read timeout: one timeout counted, no retry of an unsendable body, nothing pending", async () => {
  const clock = new VirtualClock();
  let backoffCalls = 0;
  const client = createClient({
    clock,
    timeoutMs: 100,
    policy: { telemetry: false, retry: { backoff: () => (backoffCalls++, 50) } },
    fetch: () => Promise.resolve(new Response("ok")),
  });
  const p = client.fetch("http://127.0.0.1:1/u", { method: "PUT", body: stalledStream() })
    .then(() => undefined, (e) => e);
  await clock.runAll();
  const err = await p;
  const s = client.stats();
  client.close();
  assert.equal(clock.pending, 0);
  assert.equal(s.timeouts, 1);
  // The stream was cut off by the timeout: a retry can only fail with
  // RequestBodyError, so the policy should not sleep a backoff / count a retry.
  assert.equal(
    backoffCalls,
    0,
    `backoff slept before a retry that cannot send (err: ${err?.name})`,
  );
  assert.equal(s.retries, 0, "stats.retries counts a retry that never sent anything");
});

Deno.test("body-read timeout (a local, caller-side stall) does not count against the circuit", async () => {
  const clock = new VirtualClock();
  const client = createClient({
    clock,
    timeoutMs: 100,
    policy: {
      telemetry: false,
      retry: { maxAttempts: 1 },
      circuit: { kind: "consecutive", threshold: 1, breakMs: 10_000 },
    },
    fetch: () => Promise.resolve(new Response("ok")),
  });
  const p = client.fetch("http://127.0.0.1:1/u", { method: "PUT", body: stalledStream() })
    .then(() => undefined, (e) => e);
  await clock.advance(100);
  await p;
  // A healthy request from another caller must still go through.
  const r = await client.fetch("http://127.0.0.1:1/ok").then((r) => r.status, (e) => e.name);
  client.close();
  await clock.runAll();
  assert.equal(r, 200, `a stalled local upload opened the circuit for everyone (${r})`);
});

Deno.test("policy attemptTimeoutMs cutting a body read is counted in stats.timeouts like timeoutMs is", async () => {
  const clock = new VirtualClock();
  const client = createClient({
    clock,
    policy: { telemetry: false, attemptTimeoutMs: 100, retry: { maxAttempts: 1 } },
    fetch: () => Promise.resolve(new Response("ok")),
  });
  const p = client.fetch("http://127.0.0.1:1/u", { method: "PUT", body: stalledStream() })
    .then(() => undefined, (e) => e);
  await clock.runAll();
  const err = await p;
  const s = client.stats();
  client.close();
  assert.ok(err instanceof Error);
  assert.equal(s.timeouts, 1, "ClientStats.timeouts: 'timeoutMs or the policy's attempt timeout'");
});
