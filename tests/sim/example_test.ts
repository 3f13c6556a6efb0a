import assert from "node:assert/strict";
import { runExample } from "../_examples.ts";

Deno.test("examples/simulation.ts exits 0: the budget and breaker spare the failing database", async () => {
  const { code, stdout: out, stderr } = await runExample("examples/simulation.ts", []);
  assert.equal(code, 0, stderr);
  assert.match(out, /^client +calls +succeeded/);
  const served = (name: string) =>
    Number(out.match(new RegExp(`${name}: the failing database served (\\d+) requests/s`))![1]);
  assert.ok(served("eager") > 10 * served("careful"), out);
});
