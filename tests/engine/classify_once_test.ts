// A classifier is asked once per attempt, whatever it returns.
import assert from "node:assert/strict";
import { Policy } from "../../src/policy/policy.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";

// 6dd38db: an invalid class is a TypeError. On the fast path a returned
// value is classified in #firstSettled; a verdict of undefined/null there is
// handed on as `o.verdict`, and the loop's `o.verdict ?? classify(...)`
// calls the user's classifier a second time for the same attempt.
for (const bad of [undefined, null]) {
  Deno.test(`classifier returning ${bad} is called once per attempt`, async () => {
    const clock = new VirtualClock();
    let calls = 0;
    const p = new Policy("p", {
      clock,
      telemetry: false,
      classify: () => (calls++, bad) as never,
    });
    await assert.rejects(p.execute(() => "value"), TypeError);
    assert.equal(calls, 1, `classifier called ${calls} times for one attempt`);
  });
}
