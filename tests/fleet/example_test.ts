import assert from "node:assert/strict";
import { copyPackage, runExample } from "../_examples.ts";

Deno.test("examples/fleet.ts: two processes share a circuit through a KV file", async () => {
  // In a copy of the package: the example (and the processes it starts) lock node-redis, which
  // this repository's lockfile leaves out.
  const dir = await Deno.makeTempDir({ prefix: "bulwark_fleet_example_" });
  try {
    await copyPackage(dir, ["fleet.ts"]);
    const { code, stdout: out, stderr } = await runExample(
      "examples/fleet.ts",
      ["--unstable-kv", "--allow-read", "--allow-write", "--allow-run"],
      [],
      dir,
    );
    assert.equal(code, 0, stderr);
    assert.match(out, /^a: circuit closed -> open \(failure_threshold\)$/m);
    assert.match(out, /^a: calls refused while the fleet's circuit is open \(5 calls made\)$/m);
    assert.match(out, /^b: circuit closed -> open \(fleet\)$/m);
    assert.match(out, /^b: calls refused while the fleet's circuit is open \(\d+ calls made\)$/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
