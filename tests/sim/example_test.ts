import assert from "node:assert/strict";

Deno.test("examples/simulation.ts exits 0: the budget and breaker spare the failing database", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "examples/simulation.ts"],
    cwd: new URL("../../", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(stdout);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.match(out, /^client +calls +succeeded/);
  const served = (name: string) =>
    Number(out.match(new RegExp(`${name}: the failing database served (\\d+) requests/s`))![1]);
  assert.ok(served("eager") > 10 * served("careful"), out);
});
