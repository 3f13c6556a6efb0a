import assert from "node:assert/strict";
import { attr, type OtlpSpan, startOtlpReceiver } from "../_otlp_receiver.ts";

const ROOT = new URL("../..", import.meta.url);

/** The parent's environment minus every OTEL_* variable (above all OTEL_DENO), plus `extra`. */
function childEnv(extra: Record<string, string>): Record<string, string> {
  const env = Deno.env.toObject();
  for (const key of Object.keys(env)) {
    if (key.startsWith("OTEL_")) delete env[key];
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

/** Data points of an OTLP/JSON metric, whatever its kind. */
// deno-lint-ignore no-explicit-any
function dataPoints(metric: any): Array<{ attributes?: Array<{ key: string; value: any }> }> {
  return metric.sum?.dataPoints ?? metric.histogram?.dataPoints ?? metric.gauge?.dataPoints ?? [];
}

Deno.test("end to end: @opentelemetry/sdk-node (not Deno's built-in SDK) exports Bulwark's spans and metrics", async () => {
  const receiver = startOtlpReceiver();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--config", // the OTel SDK packages are development dependencies (dev/deno.json)
        "dev/deno.json",
        "--no-prompt",
        "--allow-net=127.0.0.1,localhost",
        "--allow-env",
        "examples/telemetry_sdk_node.ts",
      ],
      cwd: ROOT,
      clearEnv: true,
      env: childEnv({
        OTEL_SERVICE_NAME: "bulwark-sdk-node-e2e",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      }),
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout);
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, `${out}\n${err}`);
    assert.match(
      out,
      /calls: success \(42 widgets\), RetryExhaustedError, CircuitOpenError, CircuitOpenError/,
    );
    assert.match(out, /circuit: open/);
    assert.match(out, /exported to http:\/\/127\.0\.0\.1:\d+ \(OTLP\/HTTP JSON\)/);

    const spans = receiver.spans;
    const names = spans.map((s) => s.name).join(", ");
    const calls = spans.filter((s) => s.name === "inventory").sort((a, b) =>
      Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano))
    );
    assert.equal(calls.length, 4, names);
    const [retried, exhausted, opened, rejected] = calls;
    assert.equal(attr(retried.attributes, "bulwark.policy.name"), "inventory");
    assert.equal(attr(retried.attributes, "bulwark.outcome"), "success");
    assert.equal(attr(retried.attributes, "bulwark.attempts"), 3);
    assert.equal(attr(exhausted.attributes, "bulwark.outcome"), "max_attempts_exceeded");
    assert.equal(attr(exhausted.attributes, "error.type"), "RetryExhaustedError");
    assert.equal(exhausted.status?.code, 2); // ERROR
    assert.equal(attr(opened.attributes, "bulwark.outcome"), "circuit_open");
    assert.equal(attr(rejected.attributes, "bulwark.outcome"), "circuit_open");
    assert.equal(attr(rejected.attributes, "bulwark.attempts"), 0);

    // Attempt spans are children of their call span, numbered from 1.
    const attemptsOf = (call: OtlpSpan) =>
      spans.filter((s) => s.name === "inventory attempt" && s.parentSpanId === call.spanId);
    assert.deepEqual(
      attemptsOf(retried).map((s) => attr(s.attributes, "bulwark.attempt")).sort(),
      [1, 2, 3],
    );
    assert.equal(attemptsOf(exhausted).length, 3);
    const firstAttempt = attemptsOf(retried).find((s) =>
      attr(s.attributes, "bulwark.attempt") === 1
    )!;
    assert.equal(attr(firstAttempt.attributes, "bulwark.error.class"), "transient");
    assert.equal(attr(firstAttempt.attributes, "error.type"), "TransientError");
    for (const a of attemptsOf(retried)) assert.equal(a.traceId, retried.traceId);

    // Span events on the call span.
    const retries = (retried.events ?? []).filter((e) => e.name === "bulwark.retry");
    assert.equal(retries.length, 2);
    assert.equal(attr(retries[0].attributes, "bulwark.attempt"), 1);
    assert.equal(attr(retries[0].attributes, "bulwark.retry.delay_ms"), 20);
    assert.equal(attr(retries[0].attributes, "bulwark.error.class"), "transient");
    assert.ok(
      (exhausted.events ?? []).some((e) => e.name === "bulwark.max_attempts_exceeded"),
      "bulwark.max_attempts_exceeded event",
    );

    // The breaker opening is its own span, linked to the call that opened it.
    const transitions = spans.filter((s) => s.name === "bulwark.circuit.transition");
    assert.equal(transitions.length, 1, names);
    const [transition] = transitions;
    assert.equal(attr(transition.attributes, "bulwark.circuit.name"), "inventory");
    assert.equal(attr(transition.attributes, "bulwark.circuit.from"), "closed");
    assert.equal(attr(transition.attributes, "bulwark.circuit.to"), "open");
    assert.equal(typeof attr(transition.attributes, "bulwark.circuit.reason"), "string");
    assert.equal(transition.parentSpanId || undefined, undefined);
    assert.equal(transition.links?.[0]?.spanId, opened.spanId);

    // Metrics, sent by the PeriodicExportingMetricReader at shutdown.
    for (
      const name of [
        "bulwark.call.duration",
        "bulwark.attempt.duration",
        "bulwark.events",
        "bulwark.retry.delay",
        "bulwark.circuit.state",
        "bulwark.circuit.transitions",
      ]
    ) {
      assert.ok(receiver.metricNames.has(name), `${name} in ${[...receiver.metricNames]}`);
    }
    const callDuration = receiver.metrics.find((m) => m.name === "bulwark.call.duration");
    assert.equal(callDuration.unit, "s");
    // Bulwark's bucket advice gives the seconds histograms seconds buckets.
    assert.deepEqual(
      callDuration.histogram.dataPoints[0].explicitBounds,
      [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
    );
    const outcomes = dataPoints(callDuration).map((p) => attr(p.attributes, "bulwark.outcome"));
    assert.ok(outcomes.includes("success") && outcomes.includes("circuit_open"), `${outcomes}`);
    const events = receiver.metrics.filter((m) => m.name === "bulwark.events").flatMap(dataPoints);
    const eventTypes = events.map((p) => attr(p.attributes, "bulwark.event"));
    for (const type of ["retry", "success", "circuit_transition", "circuit_rejected"]) {
      assert.ok(eventTypes.includes(type), `bulwark.events has ${type}: ${eventTypes}`);
    }
  } finally {
    await receiver.close();
  }
});
