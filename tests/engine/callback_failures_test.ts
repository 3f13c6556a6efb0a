// What a call does when one of the policy's own callbacks misbehaves (the
// classifier, a backoff strategy, `discard`): it rejects with an error that
// says what happened, frees what it holds, and telemetry reports it as a
// failure (status ERROR, outcome permanent_fail), never as a success.
import assert from "node:assert/strict";
import { SpanStatusCode } from "@opentelemetry/api";
import { policy, TransientError } from "../../mod.ts";
import { VirtualClock } from "../../testing.ts";
import { histogramCount, otelHarness } from "../_otel.ts";
import { settleLater } from "../_helpers.ts";

const CLASSES = "transient, flaky, rate_limit, concurrency, server_error, permanent, unknown";

Deno.test("a classifier returning an invalid class fails the call naming what it returned, and frees the probe and permit", async () => {
  for (
    const [returned, shown] of [["bogus", '"bogus"'], [undefined, "undefined"], [42, "42"], [
      null,
      "null",
    ], ["constructor", '"constructor"']] as const
  ) {
    const clock = new VirtualClock();
    const p = policy("p", {
      clock,
      telemetry: false,
      classify: (
        v,
      ) => (v === "odd" ? returned as never : v instanceof Error ? "transient" : "success"),
      circuit: { kind: "consecutive", threshold: 1, breakMs: 100 },
      bulkhead: { maxConcurrent: 1 },
      retry: { maxAttempts: 1 },
    });
    // Open the circuit, wait out its break: the next call is the half-open probe.
    await settleLater(p.execute(() => Promise.reject(new Error("down"))));
    await clock.advance(100);
    await assert.rejects(p.execute(() => "odd"), {
      name: "TypeError",
      message:
        `policy "p" classify result must be "success" or one of the error classes (${CLASSES}): received ${shown}`,
    });
    assert.equal(p.circuit!.stats().probesInFlight, 0, `${shown}: the probe is free`);
    assert.equal(p.bulkhead!.inFlight, 0, `${shown}: the permit is back`);
    assert.equal(await p.execute(() => "fine"), "fine");
  }
});

Deno.test("a backoff returning Infinity fails the call with a RangeError, not a deadline error", async () => {
  const p = policy("p", { telemetry: false, retry: { backoff: () => Infinity } });
  await assert.rejects(p.execute(() => Promise.reject(new TransientError("t"))), {
    name: "RangeError",
    message: 'policy "p" backoff result must be a finite number >= 0: received Infinity',
  });
});

Deno.test("calls rejected by a broken backoff or discard are reported as failures (status ERROR, outcome permanent_fail)", async () => {
  const otel = otelHarness();
  try {
    const telemetry = { tracerProvider: otel.tracerProvider, meterProvider: otel.meterProvider };
    const clock = new VirtualClock();
    const nan = policy("nan-backoff", { clock, telemetry, retry: { backoff: () => NaN } });
    await assert.rejects(nan.execute(() => Promise.reject(new TransientError("t"))), RangeError);
    const discarding = policy("bad-discard", { clock, telemetry, retry: { backoff: () => 0 } });
    const bug = new Error("discard bug");
    await assert.rejects(
      discarding.execute(() => new Response(null, { status: 503 }), {
        discard: () => {
          throw bug;
        },
      }),
      (e) => e === bug,
    );
    const spans = (await otel.spans()).filter((s) => !s.name.endsWith(" attempt"));
    assert.deepEqual(
      spans.map((s) => [s.name, s.attributes["bulwark.outcome"], s.status.code]),
      [
        ["nan-backoff", "permanent_fail", SpanStatusCode.ERROR],
        ["bad-discard", "permanent_fail", SpanStatusCode.ERROR],
      ],
    );
    const rm = await otel.metrics();
    for (const name of ["nan-backoff", "bad-discard"]) {
      const policyName = { "bulwark.policy.name": name };
      assert.equal(
        histogramCount(rm, "bulwark.call.duration", {
          ...policyName,
          "bulwark.outcome": "success",
        }),
        0,
      );
      assert.equal(
        histogramCount(rm, "bulwark.call.duration", {
          ...policyName,
          "bulwark.outcome": "permanent_fail",
        }),
        1,
      );
    }
  } finally {
    await otel.shutdown();
  }
});

Deno.test("retry.retryBudget: true is rejected naming the option and the value", () => {
  assert.throws(() => policy("p", { retry: { retryBudget: true as never } }), {
    name: "TypeError",
    message: "retry.retryBudget must be options for a RetryBudget, or a RetryBudget: received true",
  });
});

Deno.test("a call capped below the policy's maxAttempts says its own cap when it gives up", async () => {
  const p = policy("p", { telemetry: false, retry: { maxAttempts: 4, backoff: () => 0 } });
  await assert.rejects(
    p.execute(() => Promise.reject(new TransientError("t")), { maxAttempts: 1 }),
    { message: 'policy "p" gave up after 1 attempt (max_attempts: 1)' },
  );
});
