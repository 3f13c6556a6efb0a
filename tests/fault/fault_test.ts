import assert from "node:assert/strict";
import {
  installNetworkConditioner,
  networkConditioner,
  type NetworkConditionerOptions,
} from "../../src/fault/network_conditioner.ts";
import { faultInjection } from "../../src/fault/fault_injection.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { seededRandom } from "../../src/core/random.ts";
import { InjectedFaultError } from "../../src/core/errors.ts";
import { defaultClassifier } from "../../src/classify/default_classifier.ts";
import { policy } from "../../src/policy/policy.ts";
import { constant } from "../../src/backoff/constant.ts";
import type { FaultInjectedEvent } from "../../src/core/events.ts";
import { recorder, settleLater } from "../_helpers.ts";

const N = 10_000;

/** Asserts `count` successes out of `n` trials are within 4 standard deviations of `n * p`. */
function assertBinomial(count: number, n: number, p: number, what: string): void {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(count - mean) <= 4 * sd,
    `${what}: ${count} of ${n} is outside ${mean} ± ${(4 * sd).toFixed(1)}`,
  );
}

/** A fake upstream fetch that answers "ok" and records the URLs it was called with. */
function fakeFetch(clock?: VirtualClock) {
  const calls: { url: string; at: number }[] = [];
  const fetch = (input: string | URL | Request): Promise<Response> => {
    const url = input instanceof Request ? input.url : String(input);
    calls.push({ url, at: clock?.now() ?? 0 });
    return Promise.resolve(new Response("ok"));
  };
  return { fetch, calls };
}

function faultsOf(events: unknown[]): FaultInjectedEvent[] {
  return events as FaultInjectedEvent[];
}

// --- networkConditioner -----------------------------------------------------

Deno.test("conditioner: loss and error rates over 10,000 requests stay within 4 sd", async () => {
  const upstream = fakeFetch();
  const rec = recorder();
  const lossRate = 0.1;
  const errorRate = 0.2;
  const fetch = networkConditioner({
    fetch: upstream.fetch,
    lossRate,
    errorRate,
    random: seededRandom(1),
    onEvent: rec.onEvent,
    name: "net",
  });
  let lost = 0;
  let errors = 0;
  let ok = 0;
  for (let i = 0; i < N; i++) {
    try {
      const res = await fetch(`https://example.com/${i}`);
      if (res.status === 503) {
        assert.equal(res.headers.get("x-bulwark-fault"), "error");
        assert.equal(await res.text(), "injected fault: HTTP 503");
        errors++;
      } else {
        assert.equal(await res.text(), "ok");
        ok++;
      }
    } catch (e) {
      assert.ok(e instanceof InjectedFaultError);
      lost++;
    }
  }
  assertBinomial(lost, N, lossRate, "loss");
  assertBinomial(errors, N, (1 - lossRate) * errorRate, "errors");
  assert.equal(ok, upstream.calls.length, "only requests neither lost nor failed reach upstream");
  assert.equal(lost + errors + ok, N);
  const events = faultsOf(rec.events);
  assert.equal(events.filter((e) => e.fault === "loss").length, lost);
  assert.equal(events.filter((e) => e.fault === "error").length, errors);
  assert.equal(events.filter((e) => e.fault === "latency").length, 0, "no latency configured");
  assert.ok(events.every((e) => e.type === "fault_injected" && e.policy === "net"));
});

Deno.test("conditioner: each delay is in [latencyMs, latencyMs + jitterMs] and the mean within bounds", async () => {
  const clock = new VirtualClock();
  const upstream = fakeFetch(clock);
  const rec = recorder();
  const latencyMs = 100;
  const jitterMs = 50;
  const fetch = networkConditioner({
    fetch: upstream.fetch,
    latencyMs,
    jitterMs,
    clock,
    random: seededRandom(2),
    onEvent: rec.onEvent,
  });
  const responses = Array.from({ length: N }, (_, i) => fetch(`https://example.com/${i}`));
  assert.equal(upstream.calls.length, 0, "nothing reaches upstream before its delay");
  await clock.runAll();
  for (const res of await Promise.all(responses)) await res.body?.cancel();
  assert.equal(upstream.calls.length, N);
  assert.equal(clock.pending, 0);
  const delays = upstream.calls.map((c) => c.at);
  for (const d of delays) assert.ok(d >= latencyMs && d <= latencyMs + jitterMs, `delay ${d}`);
  const mean = delays.reduce((a, b) => a + b, 0) / N;
  const sdOfMean = jitterMs / Math.sqrt(12) / Math.sqrt(N);
  const expected = latencyMs + jitterMs / 2;
  assert.ok(Math.abs(mean - expected) <= 4 * sdOfMean, `mean delay ${mean}`);
  assert.ok(Math.min(...delays) < latencyMs + 1 && Math.max(...delays) > latencyMs + jitterMs - 1);
  // Each request's latency event carries the delay it actually waited.
  const events = faultsOf(rec.events);
  assert.equal(events.length, N);
  assert.ok(events.every((e) => e.fault === "latency" && e.timestamp === 0));
  const reported = events.map((e) => e.delayMs!).sort((a, b) => a - b);
  assert.deepEqual(reported, [...delays].sort((a, b) => a - b));
});

Deno.test("conditioner: fixed latency without jitter, then the upstream answers", async () => {
  const clock = new VirtualClock();
  const upstream = fakeFetch(clock);
  const fetch = networkConditioner({ fetch: upstream.fetch, latencyMs: 250, clock });
  const pending = settleLater(fetch("https://example.com/"));
  await clock.advance(249);
  assert.equal(upstream.calls.length, 0);
  await clock.advance(1);
  const r = await pending;
  assert.ok(r.ok);
  assert.equal(await r.value.text(), "ok");
  assert.deepEqual(upstream.calls, [{ url: "https://example.com/", at: 250 }]);
});

Deno.test("conditioner: urlFilter as string, RegExp and function; others pass straight through", async () => {
  const filters: NetworkConditionerOptions["urlFilter"][] = [
    "/api/",
    /\/API\//gi, // global + case-insensitive: matching must not depend on lastIndex
    (url: URL) => url.pathname.startsWith("/api/"),
  ];
  for (const urlFilter of filters) {
    const upstream = fakeFetch();
    const rec = recorder();
    let draws = 0;
    const fetch = networkConditioner({
      fetch: upstream.fetch,
      errorRate: 1,
      urlFilter,
      onEvent: rec.onEvent,
      random: () => (draws++, 0.5),
    });
    for (let i = 0; i < 3; i++) {
      const hit = await fetch(`https://example.com/api/items/${i}`);
      assert.equal(hit.status, 503, String(urlFilter));
      await hit.body?.cancel();
    }
    const hitDraws = draws;
    const miss = await fetch("https://example.com/health");
    assert.equal(await miss.text(), "ok");
    const missByRequest = await fetch(new Request("https://example.com/other"));
    assert.equal(await missByRequest.text(), "ok");
    const hitByUrl = await fetch(new URL("https://example.com/api/x"));
    assert.equal(hitByUrl.status, 503);
    await hitByUrl.body?.cancel();
    assert.deepEqual(upstream.calls.map((c) => c.url), [
      "https://example.com/health",
      "https://example.com/other",
    ]);
    assert.equal(rec.events.length, 4);
    assert.equal(draws, hitDraws + 2, "a request that does not match draws no random numbers");
  }
});

Deno.test("conditioner: loss rejects with InjectedFaultError before the inner fetch is called", async () => {
  const upstream = fakeFetch();
  const rec = recorder();
  const fetch = networkConditioner({
    fetch: upstream.fetch,
    lossRate: 1,
    name: "lossy",
    onEvent: rec.onEvent,
  });
  await assert.rejects(
    fetch("https://example.com/a", { method: "post", body: "x" }),
    (e: unknown) => {
      assert.ok(e instanceof InjectedFaultError);
      assert.equal(e.policy, "lossy");
      assert.equal(
        e.message,
        'injected network loss ("lossy"): POST https://example.com/a was dropped',
      );
      assert.equal(defaultClassifier(e), "transient");
      return true;
    },
  );
  assert.equal(upstream.calls.length, 0);
  assert.deepEqual(rec.events.map((e) => (e as FaultInjectedEvent).fault), ["loss"]);
});

Deno.test("conditioner: with latency, a lost request is delayed first and reports both", async () => {
  const clock = new VirtualClock(1_000);
  const upstream = fakeFetch(clock);
  const rec = recorder();
  const fetch = networkConditioner({
    fetch: upstream.fetch,
    latencyMs: 40,
    lossRate: 1,
    clock,
    onEvent: rec.onEvent,
  });
  const r = settleLater(fetch("https://example.com/"));
  await clock.runAll();
  const settled = await r;
  assert.ok(!settled.ok && settled.error instanceof InjectedFaultError);
  assert.equal(clock.now(), 1_040);
  assert.deepEqual(rec.events, [
    { type: "fault_injected", policy: "fault", timestamp: 1_000, fault: "latency", delayMs: 40 },
    { type: "fault_injected", policy: "fault", timestamp: 1_040, fault: "loss" },
  ]);
  assert.equal(upstream.calls.length, 0);
});

Deno.test("conditioner: injected errors use errorStatus; null-body statuses have no body", async () => {
  const upstream = fakeFetch();
  const teapot = networkConditioner({ fetch: upstream.fetch, errorRate: 1, errorStatus: 418 });
  const res = await teapot("https://example.com/");
  assert.equal(res.status, 418);
  assert.equal(await res.text(), "injected fault: HTTP 418");
  const empty = networkConditioner({ fetch: upstream.fetch, errorRate: 1, errorStatus: 204 });
  const none = await empty("https://example.com/");
  assert.equal(none.status, 204);
  assert.equal(none.body, null);
  assert.equal(upstream.calls.length, 0);
});

Deno.test("conditioner: aborting during injected latency rejects with the reason and leaves no timer", async () => {
  const clock = new VirtualClock();
  const upstream = fakeFetch(clock);
  const rec = recorder();
  const fetch = networkConditioner({
    fetch: upstream.fetch,
    latencyMs: 1_000,
    clock,
    onEvent: rec.onEvent,
  });

  // Signal in init.
  const viaInit = new AbortController();
  const reason1 = new Error("user navigated away");
  const r1 = settleLater(fetch("https://example.com/", { signal: viaInit.signal }));
  // Signal on a Request.
  const viaRequest = new AbortController();
  const reason2 = new DOMException("stop", "AbortError");
  const r2 = settleLater(fetch(new Request("https://example.com/", { signal: viaRequest.signal })));
  await clock.advance(500);
  assert.equal(clock.pending, 2);
  viaInit.abort(reason1);
  viaRequest.abort(reason2);
  assert.deepEqual(await r1, { ok: false, error: reason1 });
  assert.deepEqual(await r2, { ok: false, error: reason2 });
  assert.equal(clock.pending, 0);
  assert.equal(upstream.calls.length, 0);
  assert.equal(clock.now(), 500);

  // Already aborted: rejects at once, even where an error response would be injected.
  const done = new AbortController();
  done.abort("gone");
  const erroring = networkConditioner({ fetch: upstream.fetch, errorRate: 1, clock });
  await assert.rejects(erroring("https://example.com/", { signal: done.signal }), (e) => {
    assert.equal(e, "gone");
    return true;
  });
  assert.equal(clock.pending, 0);
});

Deno.test("conditioner: enabled as a boolean or a function toggles injection at runtime", async () => {
  const upstream = fakeFetch();
  const off = networkConditioner({ fetch: upstream.fetch, lossRate: 1, enabled: false });
  assert.equal(await (await off("https://example.com/")).text(), "ok");
  let on = false;
  const toggled = networkConditioner({ fetch: upstream.fetch, lossRate: 1, enabled: () => on });
  assert.equal(await (await toggled("https://example.com/")).text(), "ok");
  on = true;
  await assert.rejects(toggled("https://example.com/"), InjectedFaultError);
  on = false;
  assert.equal(await (await toggled("https://example.com/")).text(), "ok");
  assert.equal(upstream.calls.length, 3);
});

Deno.test("conditioner: a relative URL does not match a filter and reaches the wrapped fetch", async () => {
  const upstream = fakeFetch();
  const fetch = networkConditioner({ fetch: upstream.fetch, lossRate: 1, urlFilter: "/" });
  assert.equal(await (await fetch("/relative")).text(), "ok");
  assert.deepEqual(upstream.calls.map((c) => c.url), ["/relative"]);
});

Deno.test("conditioner: defaults to the globalThis.fetch of its creation time", async () => {
  const original = globalThis.fetch;
  const upstream = fakeFetch();
  globalThis.fetch = upstream.fetch as typeof fetch;
  let conditioned: typeof fetch;
  try {
    conditioned = networkConditioner({});
  } finally {
    globalThis.fetch = original;
  }
  assert.equal(await (await conditioned("https://example.com/x")).text(), "ok");
  assert.equal(upstream.calls.length, 1);
});

Deno.test("installNetworkConditioner: restore, uninstall and using put back the exact original fetch", () => {
  const original = globalThis.fetch;
  const handle = installNetworkConditioner({ latencyMs: 5 });
  try {
    assert.equal(globalThis.fetch, handle.fetch);
    assert.notEqual(globalThis.fetch, original);
    assert.equal(handle.original, original);
    assert.equal(handle.installed, true);
  } finally {
    handle.restore();
  }
  assert.equal(globalThis.fetch, original);
  assert.equal(handle.installed, false);
  handle.restore(); // idempotent
  handle[Symbol.dispose]();
  assert.equal(globalThis.fetch, original);

  const other = installNetworkConditioner({});
  other.uninstall();
  assert.equal(globalThis.fetch, original);

  {
    using outer = installNetworkConditioner({ errorRate: 1 });
    {
      using inner = installNetworkConditioner({ lossRate: 1 });
      assert.equal(inner.original, outer.fetch);
      assert.equal(globalThis.fetch, inner.fetch);
    }
    assert.equal(globalThis.fetch, outer.fetch);
  }
  assert.equal(globalThis.fetch, original);

  // A throw inside the block still restores.
  assert.throws(() => {
    using _c = installNetworkConditioner({});
    throw new Error("test body failed");
  }, /test body failed/);
  assert.equal(globalThis.fetch, original);
});

Deno.test("installNetworkConditioner: a real request through Deno.serve passes through the installed conditioner", async () => {
  const seen: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => {
      seen.push(new URL(req.url).pathname);
      return new Response(`hello from ${new URL(req.url).pathname}`);
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const original = globalThis.fetch;
  const rec = recorder();
  try {
    {
      using _net = installNetworkConditioner({
        latencyMs: 5,
        errorRate: 1,
        urlFilter: /\/flaky$/,
        onEvent: rec.onEvent,
      });
      const ok = await fetch(`${base}/ok`);
      assert.equal(await ok.text(), "hello from /ok");
      const flaky = await fetch(`${base}/flaky`);
      assert.equal(flaky.status, 503);
      assert.equal(await flaky.text(), "injected fault: HTTP 503");
    }
    assert.equal(globalThis.fetch, original);
    assert.deepEqual(seen, ["/ok"], "the injected error never reached the server");
    assert.deepEqual(rec.events.map((e) => (e as FaultInjectedEvent).fault), ["latency", "error"]);
    const after = await fetch(`${base}/flaky`);
    assert.equal(await after.text(), "hello from /flaky");
  } finally {
    globalThis.fetch = original;
    await server.shutdown();
  }
});

Deno.test("conditioner: options are validated with exact messages", () => {
  const cases: [NetworkConditionerOptions, ErrorConstructor, string][] = [
    [{ lossRate: 2 }, RangeError, "lossRate must be a number between 0 and 1: received 2"],
    [{ errorRate: -0.1 }, RangeError, "errorRate must be a number between 0 and 1: received -0.1"],
    [{ errorRate: NaN }, RangeError, "errorRate must be a number between 0 and 1: received NaN"],
    [
      { lossRate: "0.1" as unknown as number },
      TypeError,
      'lossRate must be a number between 0 and 1: received "0.1"',
    ],
    [{ latencyMs: -1 }, RangeError, "latencyMs must be a number >= 0: received -1"],
    [{ jitterMs: Infinity }, RangeError, "jitterMs must be a number >= 0: received Infinity"],
    [
      { errorStatus: 99 },
      RangeError,
      "errorStatus must be an integer between 200 and 599: received 99",
    ],
    [
      { errorStatus: 600 },
      RangeError,
      "errorStatus must be an integer between 200 and 599: received 600",
    ],
    [
      { errorStatus: 503.5 },
      RangeError,
      "errorStatus must be an integer between 200 and 599: received 503.5",
    ],
    [
      { errorStatus: "503" as unknown as number },
      TypeError,
      'errorStatus must be an integer between 200 and 599: received "503"',
    ],
    [
      { urlFilter: 5 as unknown as string },
      TypeError,
      "urlFilter must be a string, a RegExp or a function: received 5",
    ],
    [
      { enabled: "yes" as unknown as boolean },
      TypeError,
      'enabled must be a boolean or a function returning one: received "yes"',
    ],
    [{ name: "" }, TypeError, 'name must be a non-empty string: received ""'],
    [
      { random: 0.5 as unknown as () => number },
      TypeError,
      "random must be a function: received 0.5",
    ],
    [
      { clock: {} as never },
      TypeError,
      "clock must be a Clock (now, sleep, setTimer, clearTimer): received {}",
    ],
    [
      { fetch: "fetch" as unknown as typeof fetch },
      TypeError,
      'fetch must be a function: received "fetch"',
    ],
    [
      { onEvent: 1 as never },
      TypeError,
      "onEvent must be a function: received 1",
    ],
    [
      { latency: 5 } as NetworkConditionerOptions,
      TypeError,
      "latency is not a known option (expected one of: latencyMs, jitterMs, enabled, name, random, clock, onEvent, lossRate, errorRate, errorStatus, urlFilter, fetch)",
    ],
  ];
  for (const [options, type, message] of cases) {
    assert.throws(() => networkConditioner(options), { name: type.name, message });
  }
  const original = globalThis.fetch;
  assert.throws(() => installNetworkConditioner({ lossRate: 2 }), RangeError);
  assert.equal(globalThis.fetch, original, "a failed install leaves fetch alone");
  assert.throws(
    () => networkConditioner(null as never),
    { name: "TypeError", message: "options must be an object: received null" },
  );
});

// --- faultInjection ---------------------------------------------------------

Deno.test("faultInjection: injectionRate and errorRate over 10,000 calls stay within 4 sd", async () => {
  const rec = recorder();
  let calls = 0;
  const injectionRate = 0.5;
  const errorRate = 0.3;
  const wrapped = faultInjection((n: number) => Promise.resolve(++calls + n * 0), {
    injectionRate,
    errorRate,
    random: seededRandom(3),
    onEvent: rec.onEvent,
  });
  let errors = 0;
  for (let i = 0; i < N; i++) {
    await wrapped(i).catch((e) => {
      assert.ok(e instanceof InjectedFaultError);
      assert.equal(e.policy, "fault");
      assert.equal(e.message, 'injected fault ("fault")');
      errors++;
    });
  }
  assertBinomial(errors, N, injectionRate * errorRate, "errors");
  assert.equal(calls, N - errors, "a failed call never runs fn");
  assert.equal(rec.events.length, errors);
  assert.ok(faultsOf(rec.events).every((e) => e.fault === "error"));
});

Deno.test("faultInjection: the share of delayed calls is injectionRate; delays follow latency and jitter", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const startedAt: number[] = [];
  const injectionRate = 0.25;
  const wrapped = faultInjection(() => {
    startedAt.push(clock.now());
    return Promise.resolve("ok");
  }, {
    injectionRate,
    latencyMs: 10,
    jitterMs: 5,
    clock,
    random: seededRandom(4),
    onEvent: rec.onEvent,
  });
  const results = Array.from({ length: N }, () => wrapped());
  await clock.runAll();
  assert.ok((await Promise.all(results)).every((v) => v === "ok"));
  const delayed = startedAt.filter((t) => t > 0);
  assertBinomial(delayed.length, N, injectionRate, "delayed");
  assert.ok(delayed.every((t) => t >= 10 && t <= 15));
  const events = faultsOf(rec.events);
  assert.equal(events.length, delayed.length);
  assert.ok(events.every((e) => e.fault === "latency" && e.delayMs! >= 10 && e.delayMs! <= 15));
  assert.equal(clock.pending, 0);
});

Deno.test("faultInjection: enabled toggles at runtime; disabled calls draw nothing", async () => {
  let chaos = false;
  let draws = 0;
  const wrapped = faultInjection((x: string) => Promise.resolve(x.toUpperCase()), {
    errorRate: 1,
    enabled: () => chaos,
    random: () => (draws++, 0),
  });
  assert.equal(await wrapped("a"), "A");
  assert.equal(draws, 0);
  chaos = true;
  await assert.rejects(wrapped("b"), InjectedFaultError);
  chaos = false;
  assert.equal(await wrapped("c"), "C");
  const off = faultInjection(() => Promise.resolve(1), { errorRate: 1, enabled: false });
  assert.equal(await off(), 1);
});

Deno.test("faultInjection: a custom error is thrown as is, or made per failure by a function", async () => {
  const boom = new TypeError("boom");
  const same = faultInjection(() => Promise.resolve(1), { errorRate: 1, error: boom });
  await assert.rejects(same(), (e) => e === boom);
  await assert.rejects(same(), (e) => e === boom);
  let made = 0;
  const fresh = faultInjection(() => Promise.resolve(1), {
    errorRate: 1,
    error: () => Object.assign(new Error(`fault ${++made}`), { status: 503 }),
  });
  await assert.rejects(fresh(), { message: "fault 1" });
  await assert.rejects(fresh(), { message: "fault 2" });
  assert.equal(made, 2);
});

Deno.test("faultInjection: events carry type, policy, timestamp, fault and delayMs", async () => {
  const clock = new VirtualClock(5_000);
  const rec = recorder();
  const wrapped = faultInjection(() => Promise.resolve("never"), {
    name: "db",
    latencyMs: 30,
    errorRate: 1,
    clock,
    onEvent: rec.onEvent,
  });
  const r = settleLater(wrapped());
  await clock.runAll();
  const settled = await r;
  assert.ok(!settled.ok && settled.error instanceof InjectedFaultError);
  assert.equal(settled.error.policy, "db");
  assert.deepEqual(rec.events, [
    { type: "fault_injected", policy: "db", timestamp: 5_000, fault: "latency", delayMs: 30 },
    { type: "fault_injected", policy: "db", timestamp: 5_030, fault: "error" },
  ]);
  // A listener that throws changes nothing.
  const quiet = faultInjection(() => Promise.resolve(7), {
    latencyMs: 1,
    clock,
    onEvent: () => {
      throw new Error("listener");
    },
  });
  const q = quiet();
  await clock.runAll();
  assert.equal(await q, 7);
});

Deno.test("faultInjection: keeps this and arguments; synchronous throws become rejections", async () => {
  const counter = {
    base: 10,
    add(this: { base: number }, a: number, b: number) {
      return Promise.resolve(this.base + a + b);
    },
  };
  const add = faultInjection(counter.add, {});
  assert.equal(await add.call(counter, 1, 2), 13);
  const sync = faultInjection((x: number) => x * 2, {});
  assert.equal(await sync(21), 42);
  const thrower = faultInjection((): number => {
    throw new RangeError("sync");
  }, {});
  await assert.rejects(thrower(), RangeError);
});

Deno.test("faultInjection: latency aborts on a signal found in the arguments, leaving no timer", async () => {
  const clock = new VirtualClock();
  let ran = 0;
  const op = faultInjection(({ signal }: { signal: AbortSignal }) => {
    ran++;
    return Promise.resolve(signal.aborted);
  }, { latencyMs: 1_000, clock });
  const controller = new AbortController();
  const r = settleLater(op({ signal: controller.signal }));
  await clock.advance(10);
  const reason = new Error("cancelled");
  controller.abort(reason);
  assert.deepEqual(await r, { ok: false, error: reason });
  assert.equal(clock.pending, 0);
  assert.equal(ran, 0);

  const bare = faultInjection((_s: AbortSignal) => Promise.resolve(1), { latencyMs: 50, clock });
  const c2 = new AbortController();
  const r2 = settleLater(bare(c2.signal));
  c2.abort("bye");
  assert.deepEqual(await r2, { ok: false, error: "bye" });
  assert.equal(clock.pending, 0);
});

Deno.test("faultInjection: a policy retries injected faults as transient", async () => {
  const clock = new VirtualClock();
  const flaky = faultInjection(({ attempt }: { attempt: number }) => Promise.resolve(attempt), {
    errorRate: 0.5,
    random: seededRandom(11),
  });
  const p = policy("chaos", {
    clock,
    telemetry: false,
    retry: { maxAttempts: 20, backoff: constant(1) },
  });
  const r = settleLater(p.execute(flaky));
  await clock.runAll();
  const settled = await r;
  assert.ok(settled.ok, "eventually succeeds");
  assert.ok(settled.value >= 1);
});

Deno.test("faultInjection: options are validated with exact messages", () => {
  const fn = () => Promise.resolve();
  const cases: [Record<string, unknown>, string, string][] = [
    [
      { injectionRate: 1.5 },
      "RangeError",
      "injectionRate must be a number between 0 and 1: received 1.5",
    ],
    [{ errorRate: -1 }, "RangeError", "errorRate must be a number between 0 and 1: received -1"],
    [{ latencyMs: -5 }, "RangeError", "latencyMs must be a number >= 0: received -5"],
    [{ jitterMs: "1" }, "TypeError", 'jitterMs must be a number >= 0: received "1"'],
    [
      { error: "boom" },
      "TypeError",
      'error must be an Error or a function returning the value to throw: received "boom"',
    ],
    [
      { enabled: 1 },
      "TypeError",
      "enabled must be a boolean or a function returning one: received 1",
    ],
    [
      { lossRate: 0.1 },
      "TypeError",
      "lossRate is not a known option (expected one of: latencyMs, jitterMs, enabled, name, random, clock, onEvent, injectionRate, errorRate, error)",
    ],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => faultInjection(fn, options), { name, message });
  }
  assert.throws(() => faultInjection("nope" as never), {
    name: "TypeError",
    message: 'fn must be a function: received "nope"',
  });
});
