import assert from "node:assert/strict";

const SCRIPT = new URL("../../.ci/node_summary", import.meta.url).pathname;

/** Runs .ci/node_summary on `tap` (written to a temp file, removed after): its stdout lines. */
async function summary(tap: string): Promise<string[]> {
  const file = await Deno.makeTempFile({ prefix: "bulwark_node_tap_" });
  try {
    await Deno.writeTextFile(file, tap);
    const { code, stdout } = await new Deno.Command("bash", {
      args: [SCRIPT, file],
      stdout: "piped",
    }).output();
    assert.equal(code, 0);
    return new TextDecoder().decode(stdout).trimEnd().split("\n");
  } finally {
    await Deno.remove(file);
  }
}

/** Node 20's TAP summary with these counts. */
const counts = (tests: number, pass: number, fail: number, skipped = 0, todo = 0, cancelled = 0) =>
  `# tests ${tests}\n# suites 0\n# pass ${pass}\n# fail ${fail}\n# cancelled ${cancelled}\n` +
  `# skipped ${skipped}\n# todo ${todo}\n# duration_ms 251.977938\n`;

Deno.test(".ci/node_summary: a run of 0 tests counts as 1 failed, with a line saying so", async () => {
  assert.deepEqual(await summary(`TAP version 13\n1..0\n${counts(0, 0, 0)}`), [
    "node --test: 0 tests, 0 passed, 0 failed, 0 cancelled, 0 skipped, 0 todo",
    "node --test ran 0 tests: no test files found, or they define no tests",
    "0 1",
  ]);
});

Deno.test(".ci/node_summary: skipped and todo tests are counted and listed by name, subtests too", async () => {
  // Node 20's TAP for: a pass, two skips (one with a reason), a todo, a subtest skipped.
  const tap = `TAP version 13
# Subtest: fine
ok 1 - fine
  ---
  duration_ms: 1.415816
  ...
# Subtest: later
ok 2 - later # SKIP needs redis
  ---
  duration_ms: 0.207896
  ...
# Subtest: wip
ok 3 - wip # TODO not done
  ---
  duration_ms: 0.155507
  ...
# Subtest: plain skip
ok 4 - plain skip # SKIP
  ---
  duration_ms: 0.148663
  ...
# Subtest: outer
    # Subtest: inner skip
    ok 1 - inner skip # SKIP x
      ---
      duration_ms: 0.241009
      ...
    1..1
ok 5 - outer
  ---
  duration_ms: 0.709671
  ...
1..5
${counts(6, 2, 0, 3, 1)}`;
  assert.deepEqual(await summary(tap), [
    "node --test: 6 tests, 2 passed, 0 failed, 0 cancelled, 3 skipped, 1 todo",
    "  later # SKIP needs redis",
    "  wip # TODO not done",
    "  plain skip # SKIP",
    "  inner skip # SKIP x",
    "2 0",
  ]);
});

Deno.test(".ci/node_summary: failed and cancelled tests count as failed; no summary is 1 failed", async () => {
  assert.deepEqual(await summary(counts(5, 2, 2, 0, 0, 1)), [
    "node --test: 5 tests, 2 passed, 2 failed, 1 cancelled, 0 skipped, 0 todo",
    "2 3",
  ]);
  assert.deepEqual(await summary("node: bad option: --test-reporter=tap\n"), [
    "node --test: no summary in its output",
    "0 1",
  ]);
});
