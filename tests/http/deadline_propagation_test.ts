import assert from "node:assert/strict";
import {
  DEADLINE_HEADER,
  deadlineFromRequest,
  GRPC_TIMEOUT_HEADER,
  parseGrpcTimeout,
  withDeadlineHeader,
} from "../../src/http/deadline_propagation.ts";
import { loose, throwsExactly } from "../_helpers.ts";

const NOW = 1_767_225_600_000; // 2026-01-01T00:00:00Z

function request(headers: Record<string, string>): Request {
  return new Request("http://localhost/", { headers });
}

Deno.test("header names", () => {
  assert.equal(DEADLINE_HEADER, "bulwark-deadline");
  assert.equal(GRPC_TIMEOUT_HEADER, "grpc-timeout");
});

// --- parseGrpcTimeout --------------------------------------------------------

Deno.test("parseGrpcTimeout converts every unit to milliseconds", () => {
  const cases: [string, number][] = [
    ["2H", 7_200_000],
    ["3M", 180_000],
    ["5S", 5_000],
    ["250m", 250],
    ["1500u", 1.5],
    ["7u", 0.007],
    ["2500000n", 2.5],
    ["1n", 1e-6],
    ["1H", 3_600_000],
    ["1M", 60_000],
    ["1S", 1_000],
    ["1m", 1],
    ["1u", 0.001],
  ];
  for (const [value, ms] of cases) assert.equal(parseGrpcTimeout(value), ms, value);
});

Deno.test("parseGrpcTimeout accepts up to 8 digits, leading zeros and 0", () => {
  assert.equal(parseGrpcTimeout("99999999m"), 99_999_999);
  assert.equal(parseGrpcTimeout("99999999H"), 99_999_999 * 3_600_000);
  assert.equal(parseGrpcTimeout("00000100m"), 100);
  assert.equal(parseGrpcTimeout("0m"), 0); // already run out: not "no deadline"
  assert.equal(parseGrpcTimeout("0S"), 0);
});

Deno.test("parseGrpcTimeout rejects malformed values", () => {
  const bad = [
    "", // empty
    "m", // no digits
    "250", // missing unit
    "123456789m", // 9 digits
    "000000001S", // 9 digits, even with leading zeros
    "10s", // lower-case s is not a unit
    "10h",
    "10U",
    "10N",
    "10ms",
    "10 m", // inner space
    " 10m", // surrounding spaces
    "10m ",
    "+10m", // sign
    "-10m",
    "1.5S", // fraction
    "1e3m", // exponent
    "0x10m",
    "10mm", // two units
    "Sm",
    "１０m", // non-ASCII digits
  ];
  for (const value of bad) assert.equal(parseGrpcTimeout(value), undefined, JSON.stringify(value));
  assert.equal(parseGrpcTimeout(loose(undefined)), undefined);
  assert.equal(parseGrpcTimeout(loose(100)), undefined);
});

// --- deadlineFromRequest ------------------------------------------------------

Deno.test("deadlineFromRequest reads bulwark-deadline as absolute epoch ms", () => {
  const cases: [string, number][] = [
    [String(NOW + 2_000), NOW + 2_000],
    [`${NOW + 2_000}.5`, NOW + 2_000.5],
    [String(NOW - 5_000), NOW - 5_000], // in the past: still returned
    ["0", 0],
    ["-250", -250], // a negative virtual-clock deadline round-trips
    ["00042", 42],
  ];
  for (const [header, deadline] of cases) {
    assert.equal(deadlineFromRequest(request({ "bulwark-deadline": header }), NOW), deadline);
  }
  // header names are case-insensitive; Headers trims surrounding whitespace
  assert.equal(
    deadlineFromRequest(request({ "Bulwark-Deadline": ` ${NOW + 1} ` }), NOW),
    NOW + 1,
  );
});

Deno.test("deadlineFromRequest ignores an invalid bulwark-deadline", () => {
  const bad = [
    "",
    "soon",
    "1e12",
    "1767225600000ms",
    "1767225600000.",
    ".5",
    "+1767225600000",
    "1 767 225 600 000",
    "0x1A",
    "Infinity",
    "NaN",
    "9".repeat(400), // digits only but not finite
    "Thu, 01 Jan 2026 00:00:00 GMT",
  ];
  for (const header of bad) {
    assert.equal(
      deadlineFromRequest(request({ "bulwark-deadline": header }), NOW),
      undefined,
      JSON.stringify(header),
    );
  }
  // a repeated header is joined with ", " by Headers: invalid
  const headers = new Headers();
  headers.append("bulwark-deadline", String(NOW + 1));
  headers.append("bulwark-deadline", String(NOW + 2));
  assert.equal(deadlineFromRequest(new Request("http://localhost/", { headers }), NOW), undefined);
});

Deno.test("deadlineFromRequest turns grpc-timeout into now + timeout for every unit", () => {
  const cases: [string, number][] = [
    ["1H", NOW + 3_600_000],
    ["2M", NOW + 120_000],
    ["3S", NOW + 3_000],
    ["250m", NOW + 250],
    ["1500u", NOW + 1.5],
    ["2000000n", NOW + 2],
    ["0m", NOW],
  ];
  for (const [header, deadline] of cases) {
    assert.equal(deadlineFromRequest(request({ "grpc-timeout": header }), NOW), deadline, header);
  }
  assert.equal(deadlineFromRequest(request({ "grpc-timeout": "250m" }), 0), 250);
});

Deno.test("deadlineFromRequest ignores an invalid grpc-timeout", () => {
  for (const header of ["250", "123456789m", "1.5S", "-1S", "10s", "soon"]) {
    assert.equal(
      deadlineFromRequest(request({ "grpc-timeout": header }), NOW),
      undefined,
      header,
    );
  }
});

Deno.test("deadlineFromRequest: with both headers the earlier deadline wins", () => {
  // bulwark-deadline earlier
  assert.equal(
    deadlineFromRequest(
      request({ "bulwark-deadline": String(NOW + 1_000), "grpc-timeout": "5S" }),
      NOW,
    ),
    NOW + 1_000,
  );
  // grpc-timeout earlier
  assert.equal(
    deadlineFromRequest(
      request({ "bulwark-deadline": String(NOW + 10_000), "grpc-timeout": "500m" }),
      NOW,
    ),
    NOW + 500,
  );
  // equal
  assert.equal(
    deadlineFromRequest(
      request({ "bulwark-deadline": String(NOW + 3_000), "grpc-timeout": "3S" }),
      NOW,
    ),
    NOW + 3_000,
  );
  // one invalid: the valid one is used
  assert.equal(
    deadlineFromRequest(request({ "bulwark-deadline": "later", "grpc-timeout": "2S" }), NOW),
    NOW + 2_000,
  );
  assert.equal(
    deadlineFromRequest(
      request({ "bulwark-deadline": String(NOW + 9_000), "grpc-timeout": "2 S" }),
      NOW,
    ),
    NOW + 9_000,
  );
});

Deno.test("deadlineFromRequest without either header is undefined", () => {
  assert.equal(deadlineFromRequest(request({}), NOW), undefined);
  assert.equal(deadlineFromRequest(request({ "x-deadline": String(NOW) }), NOW), undefined);
});

Deno.test("deadlineFromRequest rejects a bad now", () => {
  const req = request({ "grpc-timeout": "1S" });
  throwsExactly(
    () => deadlineFromRequest(req, NaN),
    RangeError,
    "now must be a finite number: received NaN",
  );
  throwsExactly(
    () => deadlineFromRequest(req, Infinity),
    RangeError,
    "now must be a finite number: received Infinity",
  );
  throwsExactly(
    () => deadlineFromRequest(req, loose(String(NOW))),
    TypeError,
    `now must be a finite number: received "${NOW}"`,
  );
});

// --- withDeadlineHeader ---------------------------------------------------------

Deno.test("withDeadlineHeader sets Math.floor(deadline) and round-trips", () => {
  for (const deadline of [NOW + 1_500, NOW + 1_500.7, NOW + 1_500.0001, 0, 12.9, -250]) {
    const headers = withDeadlineHeader(undefined, deadline);
    assert.equal(headers.get("bulwark-deadline"), String(Math.floor(deadline)));
    const req = new Request("http://localhost/", { headers });
    assert.equal(deadlineFromRequest(req, NOW), Math.floor(deadline));
  }
});

Deno.test("withDeadlineHeader copies every kind of HeadersInit and leaves it untouched", () => {
  const deadline = NOW + 750;
  const expected = String(deadline);

  const instance = new Headers({ accept: "text/plain", "bulwark-deadline": "1" });
  const fromInstance = withDeadlineHeader(instance, deadline);
  assert.notEqual(fromInstance, instance);
  assert.equal(fromInstance.get("bulwark-deadline"), expected);
  assert.equal(fromInstance.get("accept"), "text/plain");
  assert.equal(instance.get("bulwark-deadline"), "1");

  const record = { accept: "text/plain" };
  const fromRecord = withDeadlineHeader(record, deadline);
  assert.equal(fromRecord.get("bulwark-deadline"), expected);
  assert.deepEqual(record, { accept: "text/plain" });

  const pairs: [string, string][] = [["accept", "text/plain"], ["x-a", "1"]];
  const fromPairs = withDeadlineHeader(pairs, deadline);
  assert.equal(fromPairs.get("bulwark-deadline"), expected);
  assert.equal(fromPairs.get("x-a"), "1");
  assert.deepEqual(pairs, [["accept", "text/plain"], ["x-a", "1"]]);

  assert.deepEqual([...withDeadlineHeader(undefined, deadline)], [["bulwark-deadline", expected]]);
});

Deno.test("withDeadlineHeader with NaN or Infinity sets nothing", () => {
  for (const deadline of [NaN, Infinity, -Infinity]) {
    assert.equal(withDeadlineHeader(undefined, deadline).has("bulwark-deadline"), false);
    const kept = withDeadlineHeader({ "bulwark-deadline": "123", accept: "*/*" }, deadline);
    assert.equal(kept.get("bulwark-deadline"), "123");
    assert.equal(kept.get("accept"), "*/*");
  }
});

Deno.test("withDeadlineHeader rejects a non-number deadline", () => {
  throwsExactly(
    () => withDeadlineHeader(undefined, loose("123")),
    TypeError,
    'deadline must be a number: received "123"',
  );
  throwsExactly(
    () => withDeadlineHeader({}, loose(undefined)),
    TypeError,
    "deadline must be a number: received undefined",
  );
});

Deno.test("a deadline read from one request is forwarded to the next", () => {
  const incoming = request({ "grpc-timeout": "2S", accept: "application/json" });
  const deadline = deadlineFromRequest(incoming, NOW)!;
  const outgoing = new Request("http://downstream/", {
    headers: withDeadlineHeader(incoming.headers, deadline),
  });
  assert.equal(outgoing.headers.get("bulwark-deadline"), String(NOW + 2_000));
  assert.equal(outgoing.headers.get("grpc-timeout"), "2S");
  // a moment later downstream, the absolute deadline is unchanged and still the earlier one
  assert.equal(deadlineFromRequest(outgoing, NOW + 100), NOW + 2_000);
});

Deno.test("deadlineFromRequest(req) reads the system clock when no `now` is given", () => {
  const req = new Request("http://localhost/", { headers: { "grpc-timeout": "2S" } });
  const before = Date.now();
  const deadline = deadlineFromRequest(req)!;
  assert.ok(deadline >= before + 2_000 - 50 && deadline <= Date.now() + 2_000 + 50, `${deadline}`);
});
