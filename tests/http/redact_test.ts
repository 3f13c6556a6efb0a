import assert from "node:assert/strict";
import {
  DEFAULT_REDACTED_PARAMS,
  DEFAULT_REDACTED_QUERY_PARAMS,
  redactError,
  redactUrl,
} from "../../src/http/redact.ts";
import { defaultClassifier } from "../../src/classify/default_classifier.ts";

Deno.test("redactUrl removes the userinfo", () => {
  assert.equal(redactUrl("http://user:password@127.0.0.1:8080/x"), "http://127.0.0.1:8080/x");
  assert.equal(redactUrl("https://user@example.com/"), "https://example.com/");
  assert.equal(redactUrl("https://:pw@example.com/"), "https://example.com/");
  // the userinfo runs to the last "@" of the authority
  assert.equal(redactUrl("https://u:p@ss@example.com/a@b"), "https://example.com/a@b");
  assert.equal(redactUrl(new URL("http://u:p%40w@host/")), "http://host/");
  assert.equal(redactUrl("//u:p@host/x"), "//host/x");
  assert.equal(redactUrl("see (//u:p@host/x)"), "see (//host/x)");
  assert.equal(redactUrl("https://h/a//b@c"), "https://h/a//b@c");
});

Deno.test("redactUrl replaces the value of each default parameter", () => {
  for (const name of DEFAULT_REDACTED_QUERY_PARAMS) {
    assert.equal(
      redactUrl(`https://example.com/p?page=2&${name}=s3cr3t&x=1`),
      `https://example.com/p?page=2&${name}=REDACTED&x=1`,
      name,
    );
    assert.equal(
      redactUrl(`https://example.com/p?${name}=s3cr3t`),
      `https://example.com/p?${name}=REDACTED`,
      name,
    );
  }
});

Deno.test("redactUrl matches names case-insensitively and percent-decoded, in the fragment too", () => {
  assert.equal(
    redactUrl("https://e.com/?TOKEN=a&Access_Token=b&X-Amz-Signature=c"),
    "https://e.com/?TOKEN=REDACTED&Access_Token=REDACTED&X-Amz-Signature=REDACTED",
  );
  assert.equal(redactUrl("https://e.com/?%74oken=a"), "https://e.com/?%74oken=REDACTED");
  assert.equal(
    redactUrl("https://e.com/cb#access_token=abc&state=1"),
    "https://e.com/cb#access_token=REDACTED&state=1",
  );
  // every occurrence, and an empty value too
  assert.equal(
    redactUrl("https://e.com/?key=a&key=b&key="),
    "https://e.com/?key=REDACTED&key=REDACTED&key=REDACTED",
  );
});

Deno.test("redactUrl takes a list that replaces the default one", () => {
  assert.equal(
    redactUrl("https://e.com/?tenant=7&token=a", ["Tenant"]),
    "https://e.com/?tenant=REDACTED&token=a",
  );
  assert.equal(
    redactUrl("https://u:p@e.com/?token=a", []),
    "https://e.com/?token=a",
  );
  assert.equal(
    redactUrl("https://e.com/?tenant=7&token=a", [...DEFAULT_REDACTED_QUERY_PARAMS, "tenant"]),
    "https://e.com/?tenant=REDACTED&token=REDACTED",
  );
});

Deno.test("redactUrl leaves a clean URL exactly as it is", () => {
  for (
    const url of [
      "https://example.com/a/b?page=2&sort=asc#top",
      "http://127.0.0.1:8080",
      "https://e.com/?tokens=1&mykey=2&keyword=3",
      "https://e.com/path@v2?q=a%20b",
      "",
    ]
  ) {
    assert.equal(redactUrl(url), url);
  }
  assert.equal(redactUrl(new URL("https://example.com/a?b=1")), "https://example.com/a?b=1");
});

Deno.test("redactUrl redacts a malformed URL as text and does not throw", () => {
  assert.equal(redactUrl("http://[bad/?token=x&a=1"), "http://[bad/?token=REDACTED&a=1");
  assert.equal(redactUrl("not a url?password=hunter2"), "not a url?password=REDACTED");
  assert.equal(redactUrl("http://u:p@:99999/x"), "http://:99999/x");
  assert.equal(redactUrl("?token=%E0%A4%A"), "?token=REDACTED");
  assert.equal(redactUrl("?%E0%A4%A=1"), "?%E0%A4%A=1");
});

Deno.test("DEFAULT_REDACTED_QUERY_PARAMS is frozen", () => {
  assert.ok(Object.isFrozen(DEFAULT_REDACTED_QUERY_PARAMS));
  assert.throws(() => (DEFAULT_REDACTED_QUERY_PARAMS as string[]).push("x"), TypeError);
});

Deno.test("redactError copies an error with a secret, keeping class, name, properties and classification", () => {
  const inner = Object.assign(
    new Error(
      "error sending request for url (http://127.0.0.1:1/x?token=secret&page=2): client error (Connect)",
    ),
    { code: "ECONNREFUSED" },
  );
  const error = new TypeError("fetch failed", { cause: inner });
  const copy = redactError(error, DEFAULT_REDACTED_PARAMS);
  assert.notEqual(copy, error);
  assert.ok(copy instanceof TypeError);
  assert.equal(copy.name, "TypeError");
  assert.equal(copy.message, "fetch failed");
  const cause = copy.cause as Error & { code: string };
  assert.equal(
    cause.message,
    "error sending request for url (http://127.0.0.1:1/x?token=REDACTED&page=2): client error (Connect)",
  );
  assert.equal(cause.code, "ECONNREFUSED");
  assert.ok(!copy.stack!.includes("secret") && !cause.stack!.includes("secret"));
  assert.ok(cause.stack!.includes("token=REDACTED"));
  assert.equal(defaultClassifier(copy), "transient");
  // the original is untouched
  assert.ok(inner.message.includes("secret"));
});

Deno.test("redactError returns a clean error (and non-errors) as they are", () => {
  const clean = new TypeError("fetch failed", { cause: new Error("connection refused") });
  assert.equal(redactError(clean, DEFAULT_REDACTED_PARAMS), clean);
  const reason = new DOMException("aborted", "AbortError");
  assert.equal(redactError(reason, DEFAULT_REDACTED_PARAMS), reason);
  const value = { url: "http://u:p@h/" };
  assert.equal(redactError(value, DEFAULT_REDACTED_PARAMS), value);
  assert.equal(redactError(undefined, DEFAULT_REDACTED_PARAMS), undefined);
});

Deno.test("redactError keeps a Deno error class and a DOMException's name", () => {
  const refused = new Deno.errors.ConnectionRefused("connect http://u:password@h/ failed");
  const copy = redactError(refused, DEFAULT_REDACTED_PARAMS);
  assert.ok(copy instanceof Deno.errors.ConnectionRefused);
  assert.equal(copy.name, "ConnectionRefused");
  assert.equal(copy.message, "connect http://h/ failed");
  assert.equal(defaultClassifier(copy), "transient");
  const dom = new DOMException("timed out fetching http://h/?sig=abc", "TimeoutError");
  const domCopy = redactError(dom, DEFAULT_REDACTED_PARAMS);
  assert.equal(domCopy.name, "TimeoutError");
  assert.equal(domCopy.message, "timed out fetching http://h/?sig=REDACTED");
  assert.equal(defaultClassifier(domCopy), "transient");
});

Deno.test("redactError follows AggregateError errors and stops at a cycle", () => {
  const agg = new AggregateError(
    [new Error("http://h/?token=1"), new Error("plain")],
    "all failed",
  );
  const copy = redactError(agg, DEFAULT_REDACTED_PARAMS);
  assert.equal(copy.errors[0].message, "http://h/?token=REDACTED");
  assert.equal(copy.errors[1], agg.errors[1]);
  const a = new Error("http://h/?token=1") as Error & { cause?: unknown };
  a.cause = a;
  const b = redactError(a, DEFAULT_REDACTED_PARAMS);
  assert.equal(b.message, "http://h/?token=REDACTED");
});
