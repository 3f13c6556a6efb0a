import assert from "node:assert/strict";
import { type ClientOptions, createClient } from "../../src/http/client.ts";
import { RequestBodyError } from "../../src/http/request_body.ts";
import { deadlineFromRequest } from "../../src/http/deadline_propagation.ts";
import { policy } from "../../src/policy/policy.ts";
import { type Clock, systemClock } from "../../src/core/clock.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { constant } from "../../src/backoff/constant.ts";
import {
  DeadlineExceededError,
  PoolTimeoutError,
  RetryExhaustedError,
} from "../../src/core/errors.ts";
import type { ResilienceEvent } from "../../src/core/events.ts";
import { otelHarness } from "../_otel.ts";
import { settleLater, throwsExactly } from "../_helpers.ts";

/** A real server on 127.0.0.1 with a scripted handler. */
function serve(handler: (req: Request, n: number) => Response | Promise<Response>) {
  let n = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => handler(req, ++n),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get hits(): number {
      return n;
    },
    close: () => server.shutdown(),
  };
}

/** The system clock, except that backoff sleeps are recorded and skipped. */
function recordingClock(): Clock & { sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => systemClock.now(),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return signal?.aborted ? Promise.reject(signal.reason) : Promise.resolve();
    },
    setTimer: (cb, ms) => systemClock.setTimer(cb, ms),
    clearTimer: (id) => systemClock.clearTimer(id),
  };
}

/** Waits (a few real milliseconds at a time) until `cond` holds. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("503 with Retry-After is retried after exactly that delay; the 503 body is cancelled", async () => {
  const server = serve((_req, n) =>
    n === 1
      ? new Response("try later ".repeat(1000), { status: 503, headers: { "retry-after": "1" } })
      : new Response("fresh")
  );
  const clock = recordingClock();
  const client = createClient({
    baseUrl: server.url,
    clock,
    policy: { telemetry: false, retry: { maxAttempts: 3, backoff: constant(5) } },
  });
  try {
    const res = await client.fetch("/item");
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "fresh");
    assert.deepEqual(clock.sleeps, [1_000]);
    assert.equal(server.hits, 2);
    assert.deepEqual(client.stats(), {
      requestsSent: 2,
      responsesReceived: 2,
      timeouts: 0,
      retries: 1,
      failures: 0,
      rejected: 0,
    });
    assert.ok(client.percentile(50) >= 0);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("out of retries, the last failing response is returned as fetch would", async () => {
  const server = serve(() => new Response("down", { status: 503 }));
  const client = createClient({
    baseUrl: server.url,
    clock: recordingClock(),
    policy: { telemetry: false, retry: { maxAttempts: 3, backoff: constant(1) } },
  });
  try {
    const res = await client.fetch("/down");
    assert.equal(res.status, 503);
    assert.equal(await res.text(), "down");
    assert.equal(server.hits, 3);
    const s = client.stats();
    assert.equal(s.requestsSent, 3);
    assert.equal(s.retries, 2);
    assert.equal(s.failures, 1);
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("POST without Idempotency-Key is not retried; with one (or retryNonIdempotent) it is", async () => {
  const server = serve(() => new Response("no", { status: 503 }));
  const make = (retryNonIdempotent = false) =>
    createClient({
      baseUrl: server.url,
      clock: recordingClock(),
      retryNonIdempotent,
      policy: { telemetry: false, retry: { maxAttempts: 3, backoff: constant(1) } },
    });
  const plain = make();
  const eager = make(true);
  try {
    const r1 = await plain.fetch("/orders", { method: "POST", body: "{}" });
    await r1.body?.cancel();
    assert.equal(server.hits, 1);
    const r2 = await plain.fetch("/orders", {
      method: "POST",
      body: "{}",
      headers: { "Idempotency-Key": "order-42" },
    });
    await r2.body?.cancel();
    assert.equal(server.hits, 4);
    const r3 = await plain.fetch("/orders", { method: "PATCH", body: "{}" });
    await r3.body?.cancel();
    assert.equal(server.hits, 5);
    const r4 = await eager.fetch("/orders", { method: "POST", body: "{}" });
    await r4.body?.cancel();
    assert.equal(server.hits, 8);
    for (const method of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]) {
      const before: number = server.hits;
      const r = await plain.fetch("/x", { method, ...(method === "PUT" ? { body: "x" } : {}) });
      await r.body?.cancel();
      assert.equal(server.hits - before, 3, method);
    }
  } finally {
    plain.close();
    eager.close();
    await server.close();
  }
});

Deno.test("a streamed body is buffered once and resent on retry; too large a body is refused", async () => {
  const bodies: string[] = [];
  const server = serve(async (req, n) => {
    bodies.push(await req.text());
    return n === 1 ? new Response(null, { status: 502 }) : new Response("stored");
  });
  const client = createClient({
    baseUrl: server.url,
    clock: recordingClock(),
    maxBufferedBodyBytes: 64,
    policy: { telemetry: false, retry: { maxAttempts: 3, backoff: constant(1) } },
  });
  const stream = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (const part of text.match(/.{1,4}/g)!) c.enqueue(new TextEncoder().encode(part));
        c.close();
      },
    });
  try {
    const res = await client.fetch("/upload", {
      method: "PUT",
      body: stream("hello streamed world"),
    });
    assert.equal(await res.text(), "stored");
    assert.deepEqual(bodies, ["hello streamed world", "hello streamed world"]);
    await assert.rejects(
      client.fetch("/upload", { method: "PUT", body: stream("x".repeat(100)) }),
      {
        name: "RequestBodyError",
        message: /^request body is larger than maxBufferedBodyBytes \(64 bytes\)/,
      },
    );
    assert.equal(server.hits, 2, "nothing was sent for the refused body");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("pool: at most maxConnections in flight, FIFO wait, then PoolTimeoutError", async () => {
  const clock = new VirtualClock(Date.now());
  let inFlight = 0;
  let peak = 0;
  const releases: Array<() => void> = [];
  const server = serve(async () => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise<void>((r) => releases.push(r));
    inFlight--;
    return new Response("done");
  });
  const client = createClient({
    baseUrl: server.url,
    clock,
    pool: { maxConnections: 2, connectionTimeoutMs: 50 },
    policy: { telemetry: false, retry: { maxAttempts: 3 } },
  });
  try {
    const a = client.fetch("/a");
    const b = client.fetch("/b");
    const c = client.fetch("/c").then(
      () => "resolved",
      (e) => e,
    );
    await until(() => releases.length === 2, "two requests at the server");
    await clock.advance(50); // c's wait for a connection runs out
    const error = await c;
    assert.ok(error instanceof PoolTimeoutError, String(error));
    assert.match(error.message, /no free connection within 50 ms \(2 in use, 0 waiting\)/);
    assert.equal(server.hits, 2);
    releases.forEach((r) => r());
    assert.equal(await (await a).text(), "done");
    assert.equal(await (await b).text(), "done");
    assert.equal(peak, 2);
    const s = client.stats();
    assert.equal(s.rejected, 1);
    assert.equal(s.requestsSent, 2);
    assert.equal(s.failures, 1);
    assert.equal(s.retries, 0, "a pool timeout is not retried");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("timeoutMs aborts a slow attempt and the retry succeeds", async () => {
  const clock = new VirtualClock(Date.now());
  const gate: Array<() => void> = [];
  const server = serve(async (_req, n) => {
    if (n === 1) await new Promise<void>((r) => gate.push(r));
    return new Response(`answer ${n}`);
  });
  const client = createClient({
    baseUrl: server.url,
    clock,
    timeoutMs: 100,
    policy: { telemetry: false, clock, retry: { maxAttempts: 2, backoff: constant(0) } },
  });
  try {
    const pending = client.fetch("/slow");
    await until(() => gate.length === 1, "the first request at the server");
    await clock.advance(100);
    const res = await pending;
    assert.equal(await res.text(), "answer 2");
    const s = client.stats();
    assert.equal(s.timeouts, 1);
    assert.equal(s.requestsSent, 2);
    assert.equal(s.responsesReceived, 1);
  } finally {
    gate.forEach((r) => r());
    client.close();
    await server.close();
  }
});

Deno.test("deadline round trip through two services: downstream sees the budget and stops in time", async () => {
  const clock = new VirtualClock(Date.now());
  const seenByB: Array<string | null> = [];
  let stoppedAt = -1;
  let bStarted = false;
  const downstream = policy("b-work", { clock, telemetry: false });
  const b = serve(async (req) => {
    seenByB.push(req.headers.get("bulwark-deadline"));
    const deadline = deadlineFromRequest(req, clock.now());
    try {
      await downstream.execute(({ signal }) => {
        bStarted = true;
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        );
      }, { deadline });
      return new Response("finished");
    } catch (error) {
      stoppedAt = clock.now();
      return new Response((error as Error).name, { status: 504 });
    }
  });
  const toB = createClient({
    baseUrl: b.url,
    clock,
    policy: { telemetry: false, retry: { maxAttempts: 1 } },
  });
  let aStoppedAt = -1;
  const a = serve(async (req) => {
    const deadline = deadlineFromRequest(req, clock.now());
    try {
      const res = await toB.fetch("/work", { deadline });
      return new Response(`B said ${res.status}: ${await res.text()}`);
    } catch (error) {
      aStoppedAt = clock.now();
      return new Response(`A gave up: ${(error as Error).name}`, { status: 504 });
    }
  });
  try {
    const deadline = Math.floor(clock.now()) + 500;
    const reply = fetch(`${a.url}/start`, { headers: { "bulwark-deadline": String(deadline) } });
    await until(() => bStarted, "B to start its work");
    await clock.advance(499);
    assert.equal(stoppedAt, -1, "B is still within its budget");
    await clock.advance(1);
    const res = await reply;
    // Both services give up at the one deadline: A on its call to B, B on its own work.
    assert.equal(await res.text(), "A gave up: DeadlineExceededError");
    assert.equal(aStoppedAt, Math.floor(deadline));
    await until(() => stoppedAt !== -1, "B to stop");
    assert.deepEqual(seenByB, [String(Math.floor(deadline))]);
    assert.equal(stoppedAt, Math.floor(deadline));
  } finally {
    toB.close();
    await a.close();
    await b.close();
  }
});

Deno.test("a policy deadline rejects the client call with DeadlineExceededError", async () => {
  const clock = new VirtualClock(Date.now());
  const gate: Array<() => void> = [];
  const server = serve(async () => {
    await new Promise<void>((r) => gate.push(r));
    return new Response("late");
  });
  const events: ResilienceEvent[] = [];
  const client = createClient({
    baseUrl: server.url,
    clock,
    policy: { telemetry: false, deadlineMs: 300, onEvent: (e) => events.push(e) },
  });
  try {
    const pending = client.fetch("/hang").catch((e) => e);
    await until(() => gate.length === 1, "the request at the server");
    await clock.advance(300);
    assert.ok((await pending) instanceof DeadlineExceededError);
    assert.equal(events.at(-1)?.type, "deadline_exceeded");
  } finally {
    gate.forEach((r) => r());
    client.close();
    await server.close();
  }
});

Deno.test("createClient validates its options", () => {
  assert.throws(() => createClient({ pool: { maxConnections: 0 } }), {
    name: "RangeError",
    message: "pool.maxConnections must be an integer between 1 and 1000000: received 0",
  });
  assert.throws(() => createClient({ timeoutMs: -1 }), {
    name: "RangeError",
    message: "timeoutMs must be a number > 0: received -1",
  });
  assert.throws(() => createClient({ pool: { size: 3 } } as never), {
    name: "TypeError",
    message: /^pool\.size is not a known option/,
  });
  assert.throws(() => createClient({ retryNonIdempotent: "yes" } as never), {
    name: "TypeError",
    message: 'retryNonIdempotent must be a boolean: received "yes"',
  });
  assert.throws(() => createClient({ policy: { retry: { maxAttempts: 0 } } }), {
    name: "RangeError",
    message: "policy.retry.maxAttempts must be an integer >= 1: received 0",
  });
});

Deno.test("a closed client rejects new requests", async () => {
  const client = createClient({ policy: { telemetry: false } });
  client.close();
  await assert.rejects(client.fetch("http://127.0.0.1:9/"), {
    name: "TypeError",
    message: 'client "http" is closed',
  });
});

Deno.test("a streamed body that never ends cannot outlive the caller's signal or the deadline", async () => {
  const server = serve(() => new Response("unreachable"));
  const endless = () =>
    new ReadableStream<Uint8Array>({
      pull: () => new Promise<void>(() => {}), // never produces, never ends
    });
  const clock = new VirtualClock(Date.now());
  const client = createClient({
    baseUrl: server.url,
    clock,
    policy: { telemetry: false, deadlineMs: 200, retry: { maxAttempts: 3 } },
  });
  try {
    const controller = new AbortController();
    const aborted = client.fetch("/upload", {
      method: "PUT",
      body: endless(),
      signal: controller.signal,
    }).catch((e) => e);
    await clock.advance(0);
    controller.abort(new Error("caller gave up"));
    assert.equal((await aborted).message, "caller gave up");
    const late = client.fetch("/upload", { method: "PUT", body: endless() }).catch((e) => e);
    await clock.advance(200);
    assert.ok((await late) instanceof DeadlineExceededError);
    assert.equal(server.hits, 0);
    // An attempt timeout cuts the first read short: the half-read stream cannot be resent,
    // so the retry ends the call with a permanent RequestBodyError.
    const timed = createClient({
      baseUrl: server.url,
      clock,
      policy: {
        telemetry: false,
        attemptTimeoutMs: 50,
        retry: { maxAttempts: 3, backoff: () => 0 },
      },
    });
    const cut = timed.fetch("/upload", { method: "PUT", body: endless() }).catch((e) => e);
    await clock.advance(50);
    const error = await cut;
    timed.close();
    assert.ok(error instanceof RequestBodyError, String(error));
    assert.equal((error.cause as Error).name, "AttemptTimeoutError");
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("a Retry-After of 30 days is capped to the client's default of 60 s", async () => {
  const hits: number[] = [];
  const clock = recordingClock();
  const fetch = () => {
    hits.push(hits.length + 1);
    return Promise.resolve(
      hits.length === 1
        ? new Response(null, { status: 503, headers: { "retry-after": "2592000" } })
        : new Response("fresh"),
    );
  };
  // With and without policy options: the client's own policy gets the cap.
  for (
    const policyOptions of [undefined, { telemetry: false as const }, { retry: { maxAttempts: 2 } }]
  ) {
    hits.length = 0;
    clock.sleeps.length = 0;
    const client = createClient({ clock, fetch, policy: policyOptions });
    try {
      const res = await client.fetch("http://127.0.0.1/item");
      assert.equal(await res.text(), "fresh");
      assert.deepEqual(clock.sleeps, [60_000]);
      assert.equal(hits.length, 2);
    } finally {
      client.close();
    }
  }
});

Deno.test("a Retry-After of 30 days on a VirtualClock: the client retries after 60 s, not 30 days", async () => {
  const clock = new VirtualClock();
  const at: number[] = [];
  const client = createClient({
    clock,
    policy: { telemetry: false },
    fetch: () => {
      at.push(clock.now());
      return Promise.resolve(
        at.length === 1
          ? new Response(null, { status: 503, headers: { "retry-after": "2592000" } })
          : new Response("fresh"),
      );
    },
  });
  try {
    const call = client.fetch("http://127.0.0.1/item");
    await clock.advance(59_999);
    assert.deepEqual(at, [0]);
    await clock.advance(1);
    assert.equal(await (await call).text(), "fresh");
    assert.deepEqual(at, [0, 60_000]);
  } finally {
    client.close();
  }
});

Deno.test("retry.maxRetryAfterMs set on the client's policy options, or a Policy passed in, overrides the default cap", async () => {
  const clock = recordingClock();
  let n = 0;
  const fetch = () =>
    Promise.resolve(
      ++n % 2 === 1
        ? new Response(null, { status: 503, headers: { "retry-after": "2592000" } })
        : new Response("fresh"),
    );
  const own = createClient({
    clock,
    fetch,
    policy: { telemetry: false, retry: { maxRetryAfterMs: 5_000 } },
  });
  try {
    await (await own.fetch("http://127.0.0.1/a")).text();
    assert.deepEqual(clock.sleeps, [5_000]);
  } finally {
    own.close();
  }
  clock.sleeps.length = 0;
  const shared = policy("shared", { clock, telemetry: false, retry: { maxAttempts: 2 } });
  const given = createClient({ clock, fetch, policy: shared });
  try {
    await (await given.fetch("http://127.0.0.1/b")).text();
    assert.deepEqual(clock.sleeps, [2_592_000_000]); // the shared policy keeps no cap
  } finally {
    given.close();
  }
});

Deno.test("createClient() names baseUrl when it is not an absolute URL", () => {
  for (
    const [value, shown] of [
      ["0", '"0"'],
      ["/api", '"/api"'],
      [42, "42"],
      ["//u:password@h/?token=secret", '"//h/?token=REDACTED"'],
    ] as const
  ) {
    assert.throws(() => createClient({ baseUrl: value as string }), {
      name: "TypeError",
      message: `baseUrl must be an absolute URL (a string or a URL): received ${shown}`,
    });
  }
});

/** Everything a value exposes as JSON: Error message, stack, cause and own properties, Response url. */
function exposed(value: unknown): string {
  return JSON.stringify(value, (_key, v) => {
    if (v instanceof Error) {
      return { ...v, name: v.name, message: v.message, stack: v.stack, cause: v.cause };
    }
    if (v instanceof Response) return { status: v.status, url: v.url };
    return v;
  });
}

/**
 * Calls `url` (credentials in the userinfo and `?token=`) through a client
 * with an in-memory OTel pipeline and returns everything that went out
 * through events, the result (or error) and the spans.
 */
async function reported(url: string, options: ClientOptions = {}) {
  const otel = otelHarness();
  const events: ResilienceEvent[] = [];
  const client = createClient({
    clock: recordingClock(),
    ...options,
    policy: {
      telemetry: { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider },
      retry: { maxAttempts: 3, backoff: constant(1) },
      onEvent: (e) => events.push(e),
    },
  });
  let outcome: unknown;
  try {
    outcome = await client.fetch(url);
  } catch (error) {
    outcome = error;
  } finally {
    client.close();
  }
  const spans = (await otel.spans()).map((s) => ({
    name: s.name,
    attributes: s.attributes,
    events: s.events,
    status: s.status,
  }));
  await otel.shutdown();
  return { events, outcome, spans: JSON.stringify(spans), stats: client.stats() };
}

Deno.test("no event, error or span carries the password or the token: 503 until retries run out", async () => {
  const server = serve(() => new Response("down", { status: 503 }));
  const url = server.url.replace("http://", "http://user:password@") + "/x?token=secret&page=2";
  try {
    const { events, outcome, spans, stats } = await reported(url);
    assert.equal(server.hits, 3);
    assert.deepEqual(events.map((e) => e.type), ["retry", "retry", "max_attempts_exceeded"]);
    for (const event of events) {
      const text = exposed(event);
      assert.ok(text.includes("token=REDACTED&page=2"), text);
      assert.ok(!text.includes("password") && !text.includes("secret"), text);
    }
    assert.ok(!spans.includes("password") && !spans.includes("secret"), spans);
    // The caller gets the last response (the one the events saw): status and
    // body as fetch gave them, its url redacted.
    assert.ok(outcome instanceof Response);
    assert.equal(outcome.status, 503);
    assert.equal(await outcome.text(), "down");
    assert.equal(outcome.url, `${server.url}/x?token=REDACTED&page=2`);
    assert.equal(stats.failures, 1);
  } finally {
    await server.close();
  }
});

Deno.test("no event, error or span carries the password or the token: refused connection", async () => {
  const server = serve(() => new Response("never"));
  const base = server.url;
  await server.close(); // nothing listens on the port now
  const url = base.replace("http://", "http://user:password@") + "/x?token=secret&page=2";
  const { events, outcome, spans, stats } = await reported(url);
  assert.deepEqual(events.map((e) => e.type), ["retry", "retry", "max_attempts_exceeded"]);
  for (const event of events) {
    // still a network TypeError, still transient
    assert.equal((event as { errorClass?: string }).errorClass, "transient");
    assert.ok((event as { error?: unknown }).error instanceof TypeError);
    const text = exposed(event);
    assert.ok(!text.includes("password") && !text.includes("secret"), text);
  }
  assert.ok(outcome instanceof RetryExhaustedError);
  const chain = exposed(outcome);
  assert.ok(!chain.includes("password") && !chain.includes("secret"), chain);
  let cause: unknown = outcome.cause;
  assert.ok(cause instanceof TypeError);
  assert.equal(cause.message, "fetch failed");
  for (let depth = 0; cause instanceof Error && depth < 8; depth++) {
    assert.ok(!String(cause.stack).includes("secret"), String(cause.stack));
    cause = cause.cause;
  }
  assert.ok(!spans.includes("password") && !spans.includes("secret"), spans);
  assert.equal(stats.requestsSent, 3);
});

Deno.test("a permanent network error thrown as it is (one attempt, POST) is redacted, class kept", async () => {
  const fetchStub: typeof fetch = () =>
    Promise.reject(
      new TypeError("fetch failed", {
        cause: new Error("error sending request for url (http://127.0.0.1:1/x?api_key=secret)"),
      }),
    );
  const client = createClient({
    fetch: fetchStub,
    policy: { telemetry: false, retry: { maxAttempts: 3, backoff: constant(1) } },
  });
  try {
    const error = await client.fetch("http://127.0.0.1:1/x?api_key=secret", { method: "POST" })
      .then(() => undefined, (e) => e);
    const text = exposed(error);
    assert.ok(!text.includes("secret"), text);
    assert.ok(text.includes("api_key=REDACTED"), text);
  } finally {
    client.close();
  }
});

Deno.test("a successful response keeps its url; an invalid URL's error is redacted", async () => {
  const server = serve(() => new Response("ok"));
  const client = createClient({ policy: { telemetry: false } });
  try {
    const res = await client.fetch(`${server.url}/x?token=secret`);
    assert.equal(await res.text(), "ok");
    assert.equal(res.url, `${server.url}/x?token=secret`);
    await assert.rejects(client.fetch("http://u:password@[bad/?token=secret"), (e: unknown) => {
      assert.ok(e instanceof TypeError);
      assert.ok(!exposed(e).includes("password") && !exposed(e).includes("secret"), exposed(e));
      return true;
    });
  } finally {
    client.close();
    await server.close();
  }
});

Deno.test("redactQueryParams replaces the default list and is validated", async () => {
  const server = serve(() => new Response("down", { status: 503 }));
  try {
    const { events, outcome } = await reported(`${server.url}/x?tenant=7&token=t`, {
      redactQueryParams: ["Tenant"],
    });
    await (outcome as Response).body?.cancel();
    const text = exposed(events[0]);
    assert.ok(text.includes("tenant=REDACTED&token=t"), text);
  } finally {
    await server.close();
  }
  for (
    const [value, shown] of [["token", '"token"'], [[""], "an array"], [[1], "an array"]] as const
  ) {
    throwsExactly(
      () => createClient({ redactQueryParams: value as unknown as string[] }),
      TypeError,
      `redactQueryParams must be an array of non-empty strings: received ${shown}`,
    );
  }
});

Deno.test("createClient() rejects a policy that is neither a Policy nor options, and prefixes policy errors", () => {
  for (
    const [value, shown] of [[0, "0"], [true, "true"], [NaN, "NaN"], [() => {}, "a function"], [
      [],
      "an array",
    ], ["abc", '"abc"']] as const
  ) {
    assert.throws(() => createClient({ policy: value as never }), {
      name: "TypeError",
      message: `policy must be an object: received ${shown}`,
    });
  }
  assert.throws(() => createClient({ policy: { deadlineMs: -1 } }), {
    name: "RangeError",
    message: "policy.deadlineMs must be a number > 0: received -1",
  });
});

Deno.test("createClient() names the pool option that is out of range", () => {
  assert.throws(() => createClient({ pool: { maxConnections: 1e12 } }), {
    name: "RangeError",
    message: "pool.maxConnections must be an integer between 1 and 1000000: received 1000000000000",
  });
  assert.throws(() => createClient({ pool: { maxQueue: 2 ** 53 } }), {
    name: "RangeError",
    message: "pool.maxQueue must be an integer between 0 and 1000000: received 9007199254740992",
  });
});

Deno.test("timeoutMs covers reading a stalled streamed request body: the call ends, nothing left pending", async () => {
  const clock = new VirtualClock();
  let requests = 0;
  let cancelled: unknown;
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode("first chunk, then nothing"));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const client = createClient({
    clock,
    timeoutMs: 100,
    policy: { telemetry: false, retry: { backoff: () => 0 } },
    fetch: () => {
      requests++;
      return Promise.resolve(new Response("ok"));
    },
  });
  const call = settleLater(
    client.fetch("http://127.0.0.1:1/upload", { method: "PUT", body: stalled }),
  );
  await clock.advance(100);
  const result = await call;
  assert.equal(result.ok, false, "the call ended at the timeout");
  const error = (result as { error: Error }).error;
  assert.equal(error.name, "RequestBodyError", "the cut-off stream cannot be resent");
  assert.match(
    String((error.cause as Error).message),
    /could not read the request body within 100 ms/,
  );
  assert.equal(requests, 0, "no request went out with half a body");
  assert.ok(cancelled !== undefined, "the stream was cancelled");
  assert.equal(clock.now(), 100);
  client.close();
});
