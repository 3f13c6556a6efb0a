import assert from "node:assert/strict";
import { attr, type OtlpSpan, startOtlpReceiver } from "../_otlp_receiver.ts";

Deno.test("end to end: Deno's built-in OTel exports Bulwark's spans and metrics over OTLP/HTTP", async () => {
  const receiver = startOtlpReceiver();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-env", "examples/telemetry.ts"],
      env: {
        OTEL_DENO: "true",
        OTEL_SERVICE_NAME: "bulwark-e2e",
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        // Deno's SDK reads observable gauges (bulkhead, failure rate) only on
        // its export interval, not at exit: export every 10 ms (the example
        // runs for longer than that: its backoffs alone take 40 ms).
        OTEL_METRIC_EXPORT_INTERVAL: "10",
        NO_COLOR: "1",
      },
      stdout: "piped",
      stderr: "piped",
    });
    const { code, stdout, stderr } = await child.output();
    const out = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.match(out, /retried call: 42 widgets after 3 attempts/);
    assert.match(out, /failure budget breached: true/);
    assert.match(out, /circuit: open/);
    assert.match(out, /rejected call: CircuitOpenError/);

    const spans = receiver.spans;
    const calls = spans.filter((s) => s.name === "inventory");
    assert.equal(calls.length, 3, spans.map((s) => s.name).join(", "));
    const [retried, failing, rejected] = calls.sort((a, b) =>
      Number(BigInt(a.startTimeUnixNano) - BigInt(b.startTimeUnixNano))
    );
    assert.equal(attr(retried.attributes, "bulwark.outcome"), "success");
    assert.equal(attr(retried.attributes, "bulwark.attempts"), 3);
    assert.equal(attr(rejected.attributes, "bulwark.outcome"), "circuit_open");
    const attemptsOf = (call: OtlpSpan) =>
      spans.filter((s) => s.name === "inventory attempt" && s.parentSpanId === call.spanId);
    assert.deepEqual(
      attemptsOf(retried).map((s) => attr(s.attributes, "bulwark.attempt")).sort(),
      [1, 2, 3],
    );
    const retries = (retried.events ?? []).filter((e) => e.name === "bulwark.retry");
    assert.equal(retries.length, 2);
    assert.equal(attr(retries[0].attributes, "bulwark.retry.delay_ms"), 20);
    assert.equal(attr(retries[0].attributes, "bulwark.error.class"), "transient");

    const transitions = spans.filter((s) => s.name === "bulwark.circuit.transition");
    assert.equal(transitions.length, 1);
    assert.equal(attr(transitions[0].attributes, "bulwark.circuit.from"), "closed");
    assert.equal(attr(transitions[0].attributes, "bulwark.circuit.to"), "open");
    assert.equal(transitions[0].links?.[0]?.spanId, failing.spanId);

    const breaches = spans.filter((s) => s.name === "bulwark.failure_budget.breach");
    assert.equal(breaches.length, 1);
    assert.equal(attr(breaches[0].attributes, "bulwark.failure_budget.name"), "inventory");
    assert.equal(attr(breaches[0].attributes, "bulwark.failure_budget.samples"), 3);
    assert.equal(breaches[0].links?.[0]?.spanId, retried.spanId);

    // The hedged call: two overlapping attempt spans under one call span.
    assert.match(out, /hedged call: hit/);
    const [hedged] = spans.filter((s) => s.name === "search");
    assert.equal(attr(hedged.attributes, "bulwark.outcome"), "success");
    assert.equal(attr(hedged.attributes, "bulwark.attempts"), 2);
    const [first, hedge] = spans
      .filter((s) => s.name === "search attempt" && s.parentSpanId === hedged.spanId)
      .sort((a, b) =>
        Number(attr(a.attributes, "bulwark.attempt")) -
        Number(attr(b.attributes, "bulwark.attempt"))
      );
    assert.equal(attr(first.attributes, "bulwark.attempt.cancelled"), true);
    assert.equal(attr(hedge.attributes, "bulwark.attempt.hedge"), true);
    assert.ok(BigInt(hedge.startTimeUnixNano) < BigInt(first.endTimeUnixNano), "they overlap");
    assert.equal((hedged.events ?? []).filter((e) => e.name === "bulwark.hedge").length, 1);

    for (
      const name of [
        "bulwark.call.duration",
        "bulwark.attempt.duration",
        "bulwark.events",
        "bulwark.retry.delay",
        "bulwark.circuit.transitions",
        "bulwark.circuit.state",
        "bulwark.failure_budget.rate",
      ]
    ) {
      assert.ok(receiver.metricNames.has(name), `${name} in ${[...receiver.metricNames]}`);
    }
  } finally {
    await receiver.close();
  }
});
