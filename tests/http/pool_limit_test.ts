/**
 * Hardening ("keep what holds"): 500 concurrent requests through
 * `createClient` never have more than `pool.maxConnections` requests at the
 * server at once. The server (Deno.serve on 127.0.0.1, port 0) counts the
 * requests in its handler at the same time; each handler waits one
 * macrotask so that requests overlap.
 */
import assert from "node:assert/strict";
import { createClient } from "../../src/http/client.ts";
import { PoolTimeoutError } from "../../src/core/errors.ts";

const REQUESTS = 500;

function countingServer() {
  let current = 0;
  let peak = 0;
  let hits = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async () => {
    hits++;
    current++;
    peak = Math.max(peak, current);
    await new Promise((r) => setTimeout(r, 0));
    current--;
    return new Response("ok");
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get peak() {
      return peak;
    },
    get hits() {
      return hits;
    },
    get current() {
      return current;
    },
    close: () => server.shutdown(),
  };
}

Deno.test("pool: 500 concurrent requests never exceed maxConnections at the server", async () => {
  const server = countingServer();
  const maxConnections = 8;
  const client = createClient({
    baseUrl: server.url,
    pool: { maxConnections, maxQueue: REQUESTS, connectionTimeoutMs: 30_000 },
    policy: { telemetry: false, retry: { maxAttempts: 1 } },
  });
  try {
    const bodies = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => client.fetch(`/r/${i}`).then((r) => r.text())),
    );
    assert.equal(bodies.length, REQUESTS);
    assert.ok(bodies.every((b) => b === "ok"));
    assert.equal(server.hits, REQUESTS);
    assert.ok(server.peak <= maxConnections, `peak ${server.peak} > ${maxConnections}`);
    assert.ok(server.peak >= 2, `requests never overlapped (peak ${server.peak})`);
    assert.equal(server.current, 0);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("pool: with a short queue, 500 concurrent requests still never exceed the pool", async () => {
  const server = countingServer();
  const maxConnections = 4;
  const client = createClient({
    baseUrl: server.url,
    pool: { maxConnections, maxQueue: 50, connectionTimeoutMs: 30_000 },
    policy: { telemetry: false, retry: { maxAttempts: 1 } },
  });
  try {
    const results = await Promise.all(
      Array.from(
        { length: REQUESTS },
        (_, i) =>
          client.fetch(`/r/${i}`).then(
            (r) => r.text(),
            (e) => e,
          ),
      ),
    );
    const ok = results.filter((r) => r === "ok").length;
    const rejected = results.filter((r) => r instanceof PoolTimeoutError).length;
    const other = results.filter((r) => r !== "ok" && !(r instanceof PoolTimeoutError));
    assert.deepEqual(other.map(String), []);
    assert.equal(ok + rejected, REQUESTS);
    assert.ok(rejected > 0, "a full queue rejects");
    assert.ok(ok >= maxConnections + 50, `only ${ok} served`);
    assert.equal(server.hits, ok);
    assert.ok(server.peak <= maxConnections, `peak ${server.peak} > ${maxConnections}`);
    assert.equal(client.stats().rejected, rejected);
  } finally {
    client.close();
    await server.close();
  }
});
