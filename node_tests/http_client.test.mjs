// The HTTP client on Node (global fetch) against a node:http server on
// 127.0.0.1: retries of a 503, the deadline header sent downstream, no retry
// of a POST, and attempt timeouts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { AttemptTimeoutError, createClient, RetryExhaustedError } from "@bulwark/bulwark";

/** Starts a node:http server on a free loopback port; `close()` ends it and its connections. */
async function serve(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

test("createClient: a 503 with Retry-After 0 is retried, the deadline is sent downstream", async () => {
  const seen = [];
  const upstream = await serve((req, res) => {
    seen.push({
      method: req.method,
      url: req.url,
      deadline: req.headers["bulwark-deadline"],
    });
    if (seen.length === 1) {
      res.writeHead(503, { "retry-after": "0" }).end("busy");
    } else {
      res.writeHead(200, { "content-type": "application/json" }).end(
        '{"id":42}',
      );
    }
  });
  const client = createClient({
    name: "node-inventory",
    baseUrl: upstream.url,
    timeoutMs: 2_000,
    policy: { deadlineMs: 5_000, telemetry: false },
  });
  try {
    const before = Date.now();
    const res = await client.fetch("/items/42");
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: 42 });
    assert.deepEqual(seen.map(({ method, url }) => `${method} ${url}`), [
      "GET /items/42",
      "GET /items/42",
    ]);
    for (const { deadline } of seen) {
      // Absolute epoch milliseconds: the policy's 5 s from the call's start.
      const value = Number(deadline);
      assert.ok(
        value >= before + 5_000 && value <= Date.now() + 5_000,
        `deadline ${deadline}`,
      );
    }
    const stats = client.stats();
    assert.equal(stats.requestsSent, 2);
    assert.equal(stats.responsesReceived, 2);
    assert.equal(stats.retries, 1);
    assert.equal(stats.failures, 0);
    assert.equal(stats.rejected, 0);
  } finally {
    client.close();
    await upstream.close();
  }
});

test("createClient: a POST without an Idempotency-Key is not retried", async () => {
  let hits = 0;
  const upstream = await serve((req, res) => {
    hits++;
    req.resume();
    res.writeHead(503, { "retry-after": "0" }).end("busy");
  });
  const client = createClient({
    baseUrl: upstream.url,
    policy: { telemetry: false },
  });
  try {
    const res = await client.fetch("/orders", { method: "POST", body: "{}" });
    assert.equal(res.status, 503);
    await res.body?.cancel();
    assert.equal(hits, 1);
    assert.equal(client.stats().retries, 0);
    assert.equal(client.stats().failures, 1);
  } finally {
    client.close();
    await upstream.close();
  }
});

test("createClient: an upstream that never answers ends each attempt at timeoutMs", async () => {
  let hits = 0;
  const upstream = await serve(() => {
    hits++; // never responds
  });
  const client = createClient({
    baseUrl: upstream.url,
    timeoutMs: 50,
    policy: { telemetry: false, retry: { maxAttempts: 2, backoff: () => 0 } },
  });
  try {
    await assert.rejects(client.fetch("/slow"), (error) => {
      assert.ok(error instanceof RetryExhaustedError, String(error));
      assert.equal(error.attempts, 2);
      assert.ok(
        error.cause instanceof AttemptTimeoutError,
        String(error.cause),
      );
      return true;
    });
    assert.equal(hits, 2);
    assert.equal(client.stats().requestsSent, 2);
    assert.equal(client.stats().responsesReceived, 0);
  } finally {
    client.close();
    await upstream.close();
  }
});
