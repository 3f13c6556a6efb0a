// The HTTP client hedges only idempotent requests (a POST with an
// Idempotency-Key counts as idempotent), against a real server on 127.0.0.1.
import assert from "node:assert/strict";
import { createClient } from "../../src/http/client.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";

/** A server whose first request waits until released (or aborted); the others answer at once. */
function serve() {
  const bodies: string[] = [];
  const release: Array<() => void> = [];
  let n = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const i = ++n;
    bodies[i - 1] = req.body === null ? "" : await req.text();
    if (i === 1) await new Promise<void>((resolve) => release.push(resolve));
    return new Response(`answer ${i}`);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    bodies,
    releaseFirst: () => release.forEach((r) => r()),
    get hits(): number {
      return n;
    },
    close: async () => {
      release.forEach((r) => r());
      await server.shutdown();
    },
  };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function hedgingClient(url: string, clock: VirtualClock) {
  const events: string[] = [];
  const client = createClient({
    baseUrl: url,
    clock,
    policy: {
      telemetry: false,
      clock,
      hedge: { delayMs: 20 },
      onEvent: (e) => events.push(`${e.type}:${"attempt" in e ? e.attempt : ""}`),
    },
  });
  return { client, events };
}

Deno.test("a GET is hedged after the delay: the second request answers", async () => {
  const clock = new VirtualClock(Date.now());
  const server = serve();
  const { client, events } = hedgingClient(server.url, clock);
  try {
    const pending = client.fetch("/item");
    await until(() => server.hits === 1, "the first request");
    await clock.advance(20);
    const res = await pending;
    assert.equal(await res.text(), "answer 2");
    assert.equal(server.hits, 2);
    assert.deepEqual(events, ["hedge:2", "success:2"]);
    assert.equal(client.stats().requestsSent, 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("a POST without an Idempotency-Key is never hedged", async () => {
  const clock = new VirtualClock(Date.now());
  const server = serve();
  const { client, events } = hedgingClient(server.url, clock);
  try {
    const pending = client.fetch("/orders", { method: "POST", body: "order" });
    await until(() => server.hits === 1, "the first request");
    await clock.advance(1_000);
    server.releaseFirst();
    assert.equal(await (await pending).text(), "answer 1");
    assert.equal(server.hits, 1);
    assert.deepEqual(server.bodies, ["order"]);
    assert.deepEqual(events, ["success:1"]);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("a POST with an Idempotency-Key is hedged; a hedge that starts while the body is still read waits for it, and both requests carry the whole body", async () => {
  const clock = new VirtualClock(Date.now());
  const server = serve();
  const { client, events } = hedgingClient(server.url, clock);
  let finishBody: (() => void) | undefined;
  let pulls = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      pulls++;
      if (pulls === 1) {
        controller.enqueue(new TextEncoder().encode("pay "));
        return;
      }
      await new Promise<void>((resolve) => finishBody = resolve);
      controller.enqueue(new TextEncoder().encode("42"));
      controller.close();
    },
  });
  try {
    const pending = client.fetch("/payments", {
      method: "POST",
      headers: { "Idempotency-Key": "k-1" },
      body,
    });
    await until(() => finishBody !== undefined, "the first attempt reading the body");
    await clock.advance(20); // the hedge starts while attempt 1 still reads the body
    assert.deepEqual(events, ["hedge:2"]);
    finishBody!();
    const res = await pending;
    assert.equal(await res.text(), "answer 2");
    assert.deepEqual(server.bodies, ["pay 42", "pay 42"]);
    assert.deepEqual(events, ["hedge:2", `success:${events[1].split(":")[1]}`]);
    assert.equal(server.hits, 2);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("a hedge that finds no free connection fails transiently: the attempt under way still answers", async () => {
  const clock = new VirtualClock(1_000);
  const answers: Array<() => void> = [];
  let sent = 0;
  const fakeFetch = (_url: string | URL | Request, init?: RequestInit) => {
    sent++;
    return new Promise<Response>((resolve, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
      answers.push(() => resolve(new Response(`answer ${sent}`)));
    });
  };
  const events: string[] = [];
  const client = createClient({
    baseUrl: "http://127.0.0.1:9",
    clock,
    fetch: fakeFetch as typeof fetch,
    pool: { maxConnections: 1, connectionTimeoutMs: 30 },
    policy: {
      telemetry: false,
      clock,
      hedge: { delayMs: 20 },
      onEvent: (e) => events.push(`${e.type}@${e.timestamp - 1_000}`),
    },
  });
  try {
    const call = client.fetch("/item").then((r) => r.text());
    // The hedge (20) waits for the one connection and gives up at 50; another waits from 50.
    await clock.advance(60);
    answers[0](); // attempt 1 answers at 60
    await clock.runAll();
    assert.equal(await call, "answer 1");
    // (The hedge waiting since 50 gets the connection attempt 1 gives back,
    // and its request is aborted as the call ends.)
    assert.equal(sent, 2);
    assert.deepEqual(events, ["hedge@20", "hedge@50", "success@60"]);
  } finally {
    client.close();
  }
});
