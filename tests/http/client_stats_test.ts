import assert from "node:assert/strict";
import { createClient } from "../../src/http/client.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { constant } from "../../src/backoff/constant.ts";
import { RetryExhaustedError } from "../../src/core/errors.ts";

/** Waits (a few real milliseconds at a time) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A fetch that answers only when aborted, rejecting with the abort reason (as Deno's does). */
function hangingFetch(_input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const signal = init!.signal!;
  return new Promise((_resolve, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

Deno.test("the policy's attempt timeouts are in stats().timeouts as soon as the call settles (real server)", async () => {
  const clock = new VirtualClock(Date.now());
  const held: Array<() => void> = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    await new Promise<void>((r) => held.push(r));
    return new Response("late");
  });
  const client = createClient({
    baseUrl: `http://127.0.0.1:${server.addr.port}`,
    clock,
    policy: {
      telemetry: false,
      clock,
      attemptTimeoutMs: 100,
      retry: { maxAttempts: 2, backoff: constant(0) },
    },
  });
  try {
    const call = client.fetch("/slow").then(() => undefined, (e) => e);
    await until(() => held.length === 1, "the first request at the server");
    await clock.advance(100);
    await until(() => held.length === 2, "the retry at the server");
    await clock.advance(100);
    const error = await call;
    // Read right after the call settled: both attempts the policy cut are counted.
    const stats = client.stats();
    assert.ok(error instanceof RetryExhaustedError, String(error));
    assert.deepEqual(stats, {
      requestsSent: 2,
      responsesReceived: 0,
      timeouts: 2,
      retries: 1,
      failures: 1,
      rejected: 0,
    });
  } finally {
    held.forEach((r) => r());
    client.close();
    await server.shutdown();
  }
});

Deno.test("an attempt the policy cuts while it waits for a connection counts as a timeout, not as a request", async () => {
  const clock = new VirtualClock();
  let release!: () => void;
  let calls = 0;
  const client = createClient({
    clock,
    pool: { maxConnections: 1, connectionTimeoutMs: 10_000 },
    policy: { telemetry: false, clock, attemptTimeoutMs: 100, retry: { maxAttempts: 1 } },
    // Holds its connection until released, whatever the signal says.
    fetch: () => {
      calls++;
      return new Promise<Response>((resolve) => release = () => resolve(new Response("x")));
    },
  });
  const first = client.fetch("http://127.0.0.1:1/a").then(() => "ok", (e) => e.name);
  await clock.advance(10);
  const second = client.fetch("http://127.0.0.1:1/b").then(() => "ok", (e) => e.name);
  await clock.advance(100); // t = 110: both attempts timed out; the second never got a connection
  assert.deepEqual([await first, await second], ["RetryExhaustedError", "RetryExhaustedError"]);
  const stats = client.stats();
  release();
  client.close();
  await clock.runAll();
  assert.equal(calls, 1);
  assert.deepEqual(stats, {
    requestsSent: 1,
    responsesReceived: 0,
    timeouts: 2,
    retries: 0,
    failures: 2,
    rejected: 0,
  });
});

Deno.test("timeoutMs and the policy's attempt timeout together count each cut attempt once", async () => {
  for (
    const [timeoutMs, attemptTimeoutMs] of [
      [50, 100], // the client's timer cuts first
      [100, 50], // the policy's timer cuts first
    ]
  ) {
    const clock = new VirtualClock();
    const client = createClient({
      clock,
      timeoutMs,
      policy: {
        telemetry: false,
        clock,
        attemptTimeoutMs,
        retry: { maxAttempts: 3, backoff: constant(0) },
      },
      fetch: hangingFetch,
    });
    const call = client.fetch("http://127.0.0.1:1/x").then(() => "ok", (e) => e.name);
    await clock.runAll();
    assert.equal(await call, "RetryExhaustedError");
    const stats = client.stats();
    client.close();
    assert.deepEqual(stats, {
      requestsSent: 3,
      responsesReceived: 0,
      timeouts: 3,
      retries: 2,
      failures: 1,
      rejected: 0,
    }, `timeoutMs ${timeoutMs}, attemptTimeoutMs ${attemptTimeoutMs}`);
  }
});

Deno.test("rejected counts only calls refused before any request; a retry the open circuit refuses is a failure", async () => {
  const clock = new VirtualClock();
  let sent = 0;
  const client = createClient({
    clock,
    policy: {
      telemetry: false,
      clock,
      retry: { maxAttempts: 3, backoff: constant(10) },
      circuit: { kind: "count", size: 2, threshold: 0.5, minCalls: 1, breakMs: 1_000 },
    },
    fetch: () => {
      sent++;
      return Promise.resolve(new Response("down", { status: 503 }));
    },
  });
  // 503 (sent), the breaker opens; the retry 10 ms later is refused by the open circuit.
  const first = client.fetch("http://127.0.0.1:1/a").then(() => "ok", (e) => e.name);
  await clock.advance(10);
  // Refused outright: no request at all.
  const second = client.fetch("http://127.0.0.1:1/b").then(() => "ok", (e) => e.name);
  await clock.advance(0);
  assert.deepEqual([await first, await second], ["CircuitOpenError", "CircuitOpenError"]);
  const stats = client.stats();
  client.close();
  await clock.runAll();
  assert.equal(sent, 1);
  assert.deepEqual(stats, {
    requestsSent: 1,
    responsesReceived: 1,
    timeouts: 0,
    retries: 0,
    failures: 2,
    rejected: 1,
  });
});
