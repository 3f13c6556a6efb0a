import assert from "node:assert/strict";
import { defaultClassifier } from "../../src/classify/default_classifier.ts";
import { FlakyError, PermanentError, TransientError } from "../../src/classify/markers.ts";
import { retryAfterMs } from "../../src/classify/retry_after.ts";
import type { ErrorClass } from "../../src/core/error_class.ts";
import {
  AttemptTimeoutError,
  CircuitOpenError,
  InjectedFaultError,
  PoolTimeoutError,
  RetryExhaustedError,
} from "../../src/core/errors.ts";

type Expected = ErrorClass | "success";
type Case = [label: string, value: () => unknown, expected: Expected];

function runTable(cases: readonly Case[]): void {
  for (const [label, make, expected] of cases) {
    assert.equal(defaultClassifier(make()), expected, label);
  }
}

function withProps<T extends object>(base: T, props: Record<string, unknown>): T {
  return Object.assign(base, props);
}

Deno.test("markers carry their class name, message and cause", () => {
  const cause = new Error("root");
  for (const Marker of [TransientError, FlakyError, PermanentError]) {
    const err = new Marker("boom", { cause });
    assert.ok(err instanceof Error);
    assert.equal(err.name, Marker.name);
    assert.equal(err.message, "boom");
    assert.equal(err.cause, cause);
    assert.equal(new Marker().message, "");
  }
  assert.equal(new TransientError().name, "TransientError");
  assert.equal(new FlakyError().name, "FlakyError");
  assert.equal(new PermanentError().name, "PermanentError");
});

Deno.test("defaultClassifier: markers and Bulwark's own errors", () => {
  class DbGlitch extends TransientError {}
  runTable([
    ["TransientError", () => new TransientError("x"), "transient"],
    ["FlakyError", () => new FlakyError("x"), "flaky"],
    ["PermanentError", () => new PermanentError("x"), "permanent"],
    ["TransientError subclass", () => new DbGlitch("x"), "transient"],
    // Markers win over a status that says otherwise.
    [
      "PermanentError with status 503",
      () => withProps(new PermanentError("x"), { status: 503 }),
      "permanent",
    ],
    [
      "TransientError with status 404",
      () => withProps(new TransientError("x"), { status: 404 }),
      "transient",
    ],
    [
      "AttemptTimeoutError",
      () => new AttemptTimeoutError("slow", { attempt: 1, timeoutMs: 5 }),
      "transient",
    ],
    ["InjectedFaultError", () => new InjectedFaultError("lost"), "transient"],
    ["PoolTimeoutError", () => new PoolTimeoutError("pool full"), "permanent"],
    ["CircuitOpenError", () => new CircuitOpenError("open", { retryAfterMs: 1 }), "unknown"],
    [
      "RetryExhaustedError",
      () => new RetryExhaustedError("gave up", { attempts: 2, reason: "max_attempts" }),
      "unknown",
    ],
  ]);
});

const STATUS_TABLE: readonly [number, Expected][] = [
  [408, "transient"],
  [502, "transient"],
  [503, "transient"],
  [504, "transient"],
  [429, "rate_limit"],
  [409, "concurrency"],
  [423, "concurrency"],
  [500, "server_error"],
  [501, "server_error"],
  [599, "server_error"],
  [400, "permanent"],
  [401, "permanent"],
  [404, "permanent"],
  [418, "permanent"],
  [499, "permanent"],
  [200, "success"],
  [204, "success"],
  [301, "success"],
  [304, "success"],
  [399, "success"],
];

Deno.test("defaultClassifier: numeric .status on plain objects and errors", () => {
  for (const [status, expected] of STATUS_TABLE) {
    assert.equal(defaultClassifier({ status }), expected, `{ status: ${status} }`);
    const err = withProps(new Error("http"), { status });
    assert.equal(defaultClassifier(err), expected, `Error with status ${status}`);
  }
});

Deno.test("defaultClassifier: numeric .code", () => {
  for (const [code, expected] of STATUS_TABLE) {
    assert.equal(defaultClassifier({ code }), expected, `{ code: ${code} }`);
    const err = withProps(new Error("rpc"), { code });
    assert.equal(defaultClassifier(err), expected, `Error with code ${code}`);
  }
  // .status is read before .code.
  assert.equal(defaultClassifier({ status: 404, code: 503 }), "permanent");
  // A .status outside 200..599 does not decide; .code still may.
  assert.equal(defaultClassifier({ status: 0, code: 503 }), "transient");
  // Numeric strings are not statuses.
  assert.equal(defaultClassifier({ status: "503" }), "success");
  assert.equal(defaultClassifier({ code: "503" }), "success");
  assert.equal(defaultClassifier(withProps(new Error("x"), { status: "503" })), "unknown");
});

Deno.test("defaultClassifier: numbers outside 200..599 fall through", () => {
  runTable([
    ["{ status: 199 }", () => ({ status: 199 }), "success"],
    ["{ status: 600 }", () => ({ status: 600 }), "success"],
    ["{ status: 0 }", () => ({ status: 0 }), "success"],
    ["{ status: -503 }", () => ({ status: -503 }), "success"],
    ["{ status: 503.5 }", () => ({ status: 503.5 }), "success"],
    ["{ status: NaN }", () => ({ status: NaN }), "success"],
    ["{ code: 1 }", () => ({ code: 1 }), "success"],
    ["Error code 600", () => withProps(new Error("x"), { code: 600 }), "unknown"],
    ["Error code 1", () => withProps(new Error("x"), { code: 1 }), "unknown"],
    [
      "TimeoutError status 700",
      () => withProps(new Error("x"), { name: "TimeoutError", status: 700 }),
      "transient",
    ],
    [
      "Flaky name status 100",
      () => withProps(new Error("x"), { name: "FlakyDb", status: 100 }),
      "flaky",
    ],
  ]);
});

Deno.test("defaultClassifier: real Response objects", async () => {
  for (const [status, expected] of STATUS_TABLE) {
    const res = new Response(null, { status });
    assert.equal(defaultClassifier(res), expected, `Response ${status}`);
  }
  // A Response with a body: classify without reading, then release the body.
  const withBody = new Response("unavailable", { status: 503 });
  assert.equal(defaultClassifier(withBody), "transient");
  await withBody.body?.cancel();
  // Response.error() is a network error.
  assert.equal(defaultClassifier(Response.error()), "transient");
});

Deno.test("defaultClassifier: transient error names", () => {
  for (
    const name of [
      "TimeoutError",
      "ConnectionRefused",
      "ConnectionReset",
      "ConnectionAborted",
      "BrokenPipe",
    ]
  ) {
    const err = new Error("x");
    err.name = name;
    assert.equal(defaultClassifier(err), "transient", name);
  }
  // Names are matched exactly, case included.
  for (const name of ["timeouterror", "Timeout", "ConnectionRefusedError", "Error", "RangeError"]) {
    const err = new Error("x");
    err.name = name;
    assert.equal(defaultClassifier(err), "unknown", name);
  }
});

Deno.test("defaultClassifier: Deno.errors instances are transient", () => {
  runTable([
    ["ConnectionRefused", () => new Deno.errors.ConnectionRefused("x"), "transient"],
    ["ConnectionReset", () => new Deno.errors.ConnectionReset("x"), "transient"],
    ["ConnectionAborted", () => new Deno.errors.ConnectionAborted("x"), "transient"],
    ["TimedOut", () => new Deno.errors.TimedOut("x"), "transient"],
    ["BrokenPipe", () => new Deno.errors.BrokenPipe("x"), "transient"],
    ["NotFound", () => new Deno.errors.NotFound("x"), "transient"],
    ["Interrupted", () => new Deno.errors.Interrupted("x"), "transient"],
    ["UnexpectedEof", () => new Deno.errors.UnexpectedEof("x"), "transient"],
    ["BadResource", () => new Deno.errors.BadResource("x"), "transient"],
  ]);
  // Every class in Deno.errors, not only the ones listed above.
  for (const [key, ErrorClass] of Object.entries(Deno.errors)) {
    const err = new (ErrorClass as new (message: string) => Error)("x");
    assert.equal(defaultClassifier(err), "transient", `Deno.errors.${key}`);
  }
  // A subclass counts too, even with a different name.
  class MyRefused extends Deno.errors.ConnectionRefused {
    override name = "MyRefused";
  }
  assert.equal(defaultClassifier(new MyRefused("x")), "transient");
  // A status on a Deno error still decides first.
  assert.equal(
    defaultClassifier(withProps(new Deno.errors.NotFound("x"), { status: 404 })),
    "permanent",
  );
});

Deno.test("defaultClassifier: DOMException TimeoutError from AbortSignal.timeout", async () => {
  const signal = AbortSignal.timeout(1);
  await new Promise<void>((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
  assert.ok(signal.reason instanceof DOMException);
  assert.equal(signal.reason.name, "TimeoutError");
  assert.equal(defaultClassifier(signal.reason), "transient");
  assert.equal(defaultClassifier(new DOMException("late", "TimeoutError")), "transient");
  // Other DOMExceptions are errors of no known class.
  assert.equal(defaultClassifier(new DOMException("stopped", "AbortError")), "unknown");
  assert.equal(defaultClassifier(new DOMException("x", "NetworkError")), "unknown");
});

Deno.test("defaultClassifier: Node-style string codes", () => {
  const transient = [
    "ECONNREFUSED",
    "ECONNRESET",
    "ECONNABORTED",
    "EPIPE",
    "ETIMEDOUT",
    "EAI_AGAIN",
    "ENETUNREACH",
    "EHOSTUNREACH",
  ];
  for (const code of transient) {
    assert.equal(defaultClassifier(withProps(new Error("x"), { code })), "transient", code);
  }
  for (const code of ["ENOENT", "EACCES", "econnreset", "ERR_INVALID_ARG_TYPE", ""]) {
    assert.equal(defaultClassifier(withProps(new Error("x"), { code })), "unknown", code);
  }
  // Codes are only read from errors: a plain result with such a code is a result.
  assert.equal(defaultClassifier({ code: "ECONNRESET" }), "success");
});

Deno.test("defaultClassifier: network TypeErrors from fetch", () => {
  const connect = new Error(
    "error sending request for url (http://127.0.0.1:36911/): client error (Connect): " +
      "tcp connect error: Connection refused (os error 111)",
  );
  runTable([
    ["Deno 2.9 / undici", () => new TypeError("fetch failed", { cause: connect }), "transient"],
    ["fetch failed without cause", () => new TypeError("fetch failed"), "transient"],
    [
      "older Deno",
      () => new TypeError("error sending request for url (http://x/): boom"),
      "transient",
    ],
    [
      "Firefox",
      () => new TypeError("NetworkError when attempting to fetch resource."),
      "transient",
    ],
    ["Chrome", () => new TypeError("Failed to fetch"), "transient"],
    [
      "cause is a Deno error",
      () => new TypeError("request failed", { cause: new Deno.errors.ConnectionReset("reset") }),
      "transient",
    ],
    [
      "cause has a Node code",
      () =>
        new TypeError("request failed", {
          cause: withProps(new Error("x"), { code: "ECONNRESET" }),
        }),
      "transient",
    ],
    [
      "cause is nested two deep",
      () => new TypeError("outer", { cause: new TypeError("fetch failed") }),
      "transient",
    ],
    [
      "cause is a plain Error",
      () => new TypeError("request failed", { cause: new Error("nope") }),
      "unknown",
    ],
    ["ordinary TypeError", () => new TypeError("x is not a function"), "unknown"],
    ["message in lower case", () => new TypeError("Fetch Failed"), "unknown"],
    // Only TypeErrors count: a plain Error with the same message does not.
    ["plain Error 'fetch failed'", () => new Error("fetch failed"), "unknown"],
  ]);
});

Deno.test("defaultClassifier: a cause cycle does not loop", () => {
  const a = new TypeError("a");
  const b = new TypeError("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.equal(defaultClassifier(a), "unknown");
});

Deno.test("defaultClassifier: a real fetch to a closed port is transient", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  let thrown: unknown = undefined;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`);
    await res.body?.cancel();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof Error, "fetch to a closed port must reject");
  assert.equal(defaultClassifier(thrown), "transient");
});

Deno.test("defaultClassifier: names containing Flaky are flaky", () => {
  for (const name of ["Flaky", "FlakyTestError", "DbFlakyError", "NotFlaky"]) {
    const err = new Error("x");
    err.name = name;
    assert.equal(defaultClassifier(err), "flaky", name);
  }
  for (const name of ["flaky", "FLAKY", "Flak"]) {
    const err = new Error("x");
    err.name = name;
    assert.equal(defaultClassifier(err), "unknown", name);
  }
  // Only errors are judged by name.
  assert.equal(defaultClassifier({ name: "Flaky Pastry", message: "a recipe" }), "success");
  assert.equal(defaultClassifier({ name: "TimeoutError" }), "success");
});

Deno.test("defaultClassifier: plain values are successes, plain errors unknown", () => {
  runTable([
    ["undefined", () => undefined, "success"],
    ["null", () => null, "success"],
    ["0", () => 0, "success"],
    ["503 as a bare number", () => 503, "success"],
    ["false", () => false, "success"],
    ["a string", () => "fetch failed", "success"],
    ["a bigint", () => 1n, "success"],
    ["a symbol", () => Symbol("s"), "success"],
    ["a function", () => () => 1, "success"],
    ["an empty object", () => ({}), "success"],
    ["an array", () => [1, 2], "success"],
    ["an object with a message", () => ({ message: "hi" }), "success"],
    ["a Map", () => new Map(), "success"],
    ["Error", () => new Error("x"), "unknown"],
    ["RangeError", () => new RangeError("x"), "unknown"],
    ["SyntaxError", () => new SyntaxError("x"), "unknown"],
    ["AggregateError", () => new AggregateError([new TransientError("x")]), "unknown"],
    ["custom Error subclass", () => new (class MyErr extends Error {})("x"), "unknown"],
  ]);
});

const NOW = Date.parse("Wed, 21 Oct 2026 07:28:00 GMT");

function res(value: string | null): Response {
  return new Response(null, {
    status: 429,
    headers: value === null ? {} : { "Retry-After": value },
  });
}

Deno.test("retryAfterMs: delta-seconds", () => {
  const table: [string, number | undefined][] = [
    ["3", 3000],
    [" 5 ", 5000],
    ["\t7\t", 7000],
    ["0", 0],
    ["120", 120_000],
    ["007", 7000],
    ["1.5", 1500],
    ["0.25", 250],
    ["1.1", 1100],
  ];
  for (const [value, expected] of table) {
    assert.equal(
      retryAfterMs({ headers: { "retry-after": value } }, NOW),
      expected,
      JSON.stringify(value),
    );
  }
});

Deno.test("retryAfterMs: HTTP-date relative to now", () => {
  const table: [string, number | undefined][] = [
    ["Wed, 21 Oct 2026 07:28:03 GMT", 3000],
    ["Wed, 21 Oct 2026 07:29:00 GMT", 60_000],
    ["  Wed, 21 Oct 2026 07:28:10 GMT  ", 10_000],
    ["Wed, 21 Oct 2026 07:28:00 GMT", 0],
    ["Wed, 21 Oct 2026 07:27:00 GMT", 0],
    ["Thu, 01 Jan 1970 00:00:00 GMT", 0],
  ];
  for (const [value, expected] of table) {
    assert.equal(retryAfterMs(res(value), NOW), expected, value);
  }
  // `now` is honoured, not the wall clock.
  assert.equal(retryAfterMs(res("Wed, 21 Oct 2026 07:28:03 GMT"), NOW - 2000), 5000);
});

Deno.test("retryAfterMs: invalid or missing values give undefined", () => {
  for (
    const value of [
      "soon",
      "-1",
      "",
      "   ",
      "+3",
      "1e3",
      "3s",
      "1.",
      ".5",
      "-0",
      "1,5",
      "NaN",
      "Infinity",
    ]
  ) {
    assert.equal(retryAfterMs(res(value), NOW), undefined, JSON.stringify(value));
    assert.equal(
      retryAfterMs({ headers: { "retry-after": value } }, NOW),
      undefined,
      JSON.stringify(value),
    );
  }
  assert.equal(retryAfterMs(res(null), NOW), undefined);
  assert.equal(retryAfterMs(new Response(null, { status: 503 }), NOW), undefined);
  assert.equal(retryAfterMs({ headers: {} }, NOW), undefined);
  assert.equal(retryAfterMs({ headers: null }, NOW), undefined);
  assert.equal(retryAfterMs({ headers: "Retry-After: 3" }, NOW), undefined);
  assert.equal(retryAfterMs({ headers: { "retry-after": null } }, NOW), undefined);
  assert.equal(retryAfterMs({ headers: { "retry-after": -3 } }, NOW), undefined);
  assert.equal(retryAfterMs({}, NOW), undefined);
  assert.equal(retryAfterMs(new Error("x"), NOW), undefined);
  assert.equal(retryAfterMs(undefined, NOW), undefined);
  assert.equal(retryAfterMs(null, NOW), undefined);
  assert.equal(retryAfterMs("3", NOW), undefined);
  assert.equal(retryAfterMs(3, NOW), undefined);
});

Deno.test("retryAfterMs: sources", () => {
  // A Response.
  assert.equal(retryAfterMs(res("4"), NOW), 4000);
  // An object with a Headers instance.
  assert.equal(retryAfterMs({ headers: new Headers({ "retry-after": "6" }) }, NOW), 6000);
  // Plain records, any key case.
  assert.equal(retryAfterMs({ headers: { "Retry-After": "2" } }, NOW), 2000);
  assert.equal(retryAfterMs({ headers: { "RETRY-AFTER": "8" } }, NOW), 8000);
  assert.equal(retryAfterMs({ headers: { "rEtRy-AfTeR": "9" } }, NOW), 9000);
  // Node-style list value and numeric value.
  assert.equal(retryAfterMs({ headers: { "retry-after": ["11", "12"] } }, NOW), 11_000);
  assert.equal(retryAfterMs({ headers: { "retry-after": 13 } }, NOW), 13_000);
  // An error carrying a Response, or a response-like object.
  const withResponse = withProps(new Error("429"), { response: res("14") });
  assert.equal(retryAfterMs(withResponse, NOW), 14_000);
  const withLike = withProps(new Error("429"), { response: { headers: { "retry-after": "15" } } });
  assert.equal(retryAfterMs(withLike, NOW), 15_000);
  const withDate = withProps(new Error("503"), {
    response: { headers: new Headers({ "Retry-After": "Wed, 21 Oct 2026 07:28:16 GMT" }) },
  });
  assert.equal(retryAfterMs(withDate, NOW), 16_000);
  // The value's own headers come before its .response.
  assert.equal(retryAfterMs({ headers: { "retry-after": "1" }, response: res("2") }, NOW), 1000);
  // An unusable own header falls back to .response.
  assert.equal(retryAfterMs({ headers: { "retry-after": "soon" }, response: res("2") }, NOW), 2000);
  // A self-referencing .response does not loop.
  const loop: { response?: unknown } = {};
  loop.response = loop;
  assert.equal(retryAfterMs(loop, NOW), undefined);
});

Deno.test("retryAfterMs: explicit .retryAfterMs wins", () => {
  assert.equal(retryAfterMs(withProps(new Error("x"), { retryAfterMs: 2500 }), NOW), 2500);
  assert.equal(retryAfterMs(withProps(new Error("x"), { retryAfterMs: 0 }), NOW), 0);
  assert.equal(retryAfterMs(new CircuitOpenError("open", { retryAfterMs: 750 }), NOW), 750);
  const both = withProps(new Error("x"), { retryAfterMs: 100, response: res("9") });
  assert.equal(retryAfterMs(both, NOW), 100);
  // Unusable explicit values fall back to the headers.
  for (const bad of [-1, NaN, Infinity, "100"]) {
    const err = withProps(new Error("x"), { retryAfterMs: bad, response: res("9") });
    assert.equal(retryAfterMs(err, NOW), 9000, String(bad));
    assert.equal(
      retryAfterMs(withProps(new Error("x"), { retryAfterMs: bad }), NOW),
      undefined,
      String(bad),
    );
  }
});
