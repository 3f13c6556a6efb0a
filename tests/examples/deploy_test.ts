import assert from "node:assert/strict";
import { createProxy } from "../../examples/deploy.ts";

Deno.test("examples/deploy.ts proxies a flaky upstream through its policy, on 127.0.0.1", async () => {
  let hits = 0;
  const deadlines: Array<string | null> = [];
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hits++;
    deadlines.push(req.headers.get("bulwark-deadline"));
    const path = new URL(req.url).pathname;
    if (path === "/flaky" && hits % 2 === 1) return new Response("blip", { status: 503 });
    if (path === "/missing") return new Response("no such item", { status: 404 });
    return Response.json({ path, hits });
  });
  const { handler, client } = createProxy(`http://127.0.0.1:${upstream.addr.port}`);
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  const base = `http://127.0.0.1:${proxy.addr.port}`;
  try {
    // A 503 from the upstream is retried behind the proxy; the caller sees the success.
    const ok = await fetch(`${base}/flaky`);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { path: "/flaky", hits: 2 });
    // A 404 is passed through, not retried.
    const before = hits;
    const missing = await fetch(`${base}/missing`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), "no such item");
    assert.equal(hits - before, 1);
    // The caller's deadline travels on: the upstream sees the same absolute deadline.
    const deadline = Date.now() + 3_000;
    const timed = await fetch(`${base}/item`, {
      headers: { "bulwark-deadline": String(deadline) },
    });
    await timed.body?.cancel();
    assert.equal(deadlines.at(-1), String(deadline));
    // gRPC-style timeouts work too: 2 seconds from now, give or take the hop.
    const grpc = await fetch(`${base}/item`, { headers: { "grpc-timeout": "2S" } });
    await grpc.body?.cancel();
    const sent = Number(deadlines.at(-1));
    assert.ok(Math.abs(sent - (Date.now() + 2_000)) < 1_000, `deadline ${sent}`);
    // A deadline already past is refused at once with 504.
    const late = await fetch(`${base}/item`, { headers: { "bulwark-deadline": "1000" } });
    assert.equal(late.status, 504);
    assert.match(await late.text(), /DeadlineExceededError/);
  } finally {
    client.close();
    await proxy.shutdown();
    await upstream.shutdown();
  }
});

Deno.test("examples/deploy.ts forwards Idempotency-Key, so a proxied POST is retried", async () => {
  let hits = 0;
  const upstream = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    hits++;
    await req.body?.cancel();
    return hits === 1 ? new Response("busy", { status: 503 }) : new Response("created");
  });
  const { handler, client } = createProxy(`http://127.0.0.1:${upstream.addr.port}`);
  const proxy = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  try {
    const res = await fetch(`http://127.0.0.1:${proxy.addr.port}/orders`, {
      method: "POST",
      body: JSON.stringify({ item: 42 }),
      headers: { "content-type": "application/json", "idempotency-key": "order-42" },
    });
    assert.equal(await res.text(), "created");
    assert.equal(hits, 2);
  } finally {
    client.close();
    await proxy.shutdown();
    await upstream.shutdown();
  }
});
