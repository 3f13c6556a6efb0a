// The attempt-count rule, one sentence in README.md and docs/policy.md:
// "A call makes up to 3 attempts unless `retry.maxAttempts` says otherwise."
import assert from "node:assert/strict";
import { policy } from "../../src/policy/policy.ts";
import { policyFromJSON } from "../../src/policy/policy_declaration.ts";
import { retry } from "../../src/retry/retry.ts";
import { createClient } from "../../src/http/client.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { TransientError } from "../../src/classify/markers.ts";
import { RetryExhaustedError } from "../../src/core/errors.ts";
import { settleLater } from "../_helpers.ts";

const noDelay = () => 0;

/** Runs a call that always fails transiently; returns how many attempts it made. */
async function attemptsOf(
  run: (fn: () => Promise<never>) => Promise<unknown>,
  clock: VirtualClock,
): Promise<number> {
  let calls = 0;
  const out = settleLater(run(() => {
    calls++;
    return Promise.reject(new TransientError("down"));
  }));
  await clock.runAll();
  const result = await out;
  assert.equal(result.ok, false);
  assert.ok((result as { error: unknown }).error instanceof RetryExhaustedError);
  return calls;
}

Deno.test("policy() makes 3 attempts with no retry block and with retry: {}", async () => {
  const clock = new VirtualClock();
  const bare = policy("bare", { clock, telemetry: false });
  const empty = policy("empty", { clock, telemetry: false, retry: {} });
  const deadlineOnly = policy("deadline", { clock, telemetry: false, deadlineMs: 60_000 });
  assert.equal(await attemptsOf((fn) => bare.execute(fn), clock), 3);
  assert.equal(await attemptsOf((fn) => empty.execute(fn), clock), 3);
  assert.equal(await attemptsOf((fn) => deadlineOnly.execute(fn), clock), 3);
});

Deno.test("retry.maxAttempts is the only way to change the count (1 turns retries off)", async () => {
  const clock = new VirtualClock();
  const once = policy("once", { clock, telemetry: false, retry: { maxAttempts: 1 } });
  const five = policy("five", {
    clock,
    telemetry: false,
    retry: { maxAttempts: 5, backoff: noDelay },
  });
  assert.equal(await attemptsOf((fn) => once.execute(fn), clock), 1);
  assert.equal(await attemptsOf((fn) => five.execute(fn), clock), 5);
  assert.equal(await attemptsOf((fn) => retry(fn, { clock }), clock), 3);
});

Deno.test("policyFromJSON() follows the same rule", async () => {
  const clock = new VirtualClock();
  const bare = policyFromJSON("bare", { deadlineMs: 60_000, telemetry: false }, { clock });
  assert.equal(await attemptsOf((fn) => bare.execute(fn), clock), 3);
});

Deno.test("createClient() makes 3 attempts with no policy and with a policy that only sets a deadline", async () => {
  const clock = new VirtualClock();
  for (const policyOption of [undefined, {}, { deadlineMs: 60_000 }]) {
    let requests = 0;
    const client = createClient({
      clock,
      ...(policyOption === undefined ? {} : { policy: { ...policyOption, telemetry: false } }),
      fetch: () => {
        requests++;
        return Promise.resolve(new Response("busy", { status: 503 }));
      },
    });
    const out = settleLater(client.fetch("http://127.0.0.1:1/x"));
    await clock.runAll();
    const result = await out;
    assert.equal(result.ok, true, "the last 503 is returned, as fetch would");
    assert.equal(requests, 3, `policy: ${JSON.stringify(policyOption)}`);
    client.close();
  }
});
