// ProcessSupervisor on Node: real `node -e` children started through
// node:child_process, process groups signalled with process.kill(-pgid),
// and the /proc scan read with node:fs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { ProcessSupervisor } from "@bulwark/bulwark";

const linux = process.platform === "linux";

/** Whether `pid` is a living process: zombies (exited, not yet reaped) are not. */
function alive(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2)[0];
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** The first line a child prints on its piped stdout. */
async function firstLine(child) {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}

/** A script for `node -e`: start `node -e <inner>` (detached or not), print its pid, wait. */
function parentOf(inner, { detached = false, ignoreTerm = false } = {}) {
  return `
    const { spawn } = require("node:child_process");
    ${ignoreTerm ? 'process.on("SIGTERM", () => {});' : ""}
    const grandchild = spawn(process.execPath, ["-e", ${JSON.stringify(inner)}], {
      stdio: "ignore", detached: ${detached},
    });
    console.log(grandchild.pid);
    setInterval(() => {}, 1000);
  `;
}

const SLEEP = "setInterval(() => {}, 1000)";

/** Runs `fn` with a supervisor and closes it after (Node 20 has no `await using`). */
async function supervised(fn, options) {
  const supervisor = new ProcessSupervisor(options);
  try {
    return await fn(supervisor);
  } finally {
    await supervisor.close();
  }
}

test("spawn: a node child runs, its output and status are read, and it is untracked after", async () => {
  await supervised(async (supervisor) => {
    const child = supervisor.spawn(process.execPath, [
      "-e",
      "console.log('hi ' + 6 * 7)",
    ], {
      stdout: "piped",
      stderr: "piped",
    });
    assert.equal(typeof child.pid, "number");
    assert.deepEqual(supervisor.children, [child]);
    const output = await child.output();
    assert.equal(new TextDecoder().decode(output.stdout), "hi 42\n");
    assert.equal(output.stderr.length, 0);
    assert.deepEqual({
      success: output.success,
      code: output.code,
      signal: output.signal,
    }, {
      success: true,
      code: 0,
      signal: null,
    });
    await Promise.resolve();
    assert.deepEqual(supervisor.children, []);
    assert.throws(() => child.kill(), { name: "TypeError" });
  });
});

test("spawn: env, cwd and an exit code pass through as on Deno", async () => {
  await supervised(async (supervisor) => {
    const child = supervisor.spawn(
      process.execPath,
      [
        "-e",
        "console.log(process.env.BULWARK_NODE_TEST + ' ' + process.cwd()); process.exit(3)",
      ],
      { env: { BULWARK_NODE_TEST: "set" }, cwd: "/tmp", stdout: "piped" },
    );
    const output = await child.output();
    assert.equal(new TextDecoder().decode(output.stdout), "set /tmp\n");
    assert.deepEqual([output.success, output.code, output.signal], [
      false,
      3,
      null,
    ]);
  });
});

test("spawn: a missing command and bad arguments throw at once", async () => {
  await supervised((supervisor) => {
    assert.throws(() => supervisor.spawn("/no/such/binary"), {
      name: "NotFound",
      code: "ENOENT",
      message: "Failed to spawn '/no/such/binary': entity not found",
    });
    assert.throws(() => supervisor.spawn("node", "-v"), {
      name: "TypeError",
      message: 'args must be an array of strings: received "-v"',
    });
    assert.deepEqual(supervisor.children, []);
  });
});

test("close: kills the child's whole process group, grandchild included", async () => {
  const supervisor = new ProcessSupervisor();
  const child = supervisor.spawn(process.execPath, ["-e", parentOf(SLEEP)], {
    stdout: "piped",
  });
  const grandchild = Number(await firstLine(child));
  assert.ok(grandchild > 0 && alive(grandchild));
  if (linux) {
    // The child leads a process group of its own, and the grandchild is in it.
    const pgrp = (pid) =>
      Number(
        readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[2],
      );
    assert.equal(pgrp(child.pid), child.pid);
    assert.equal(pgrp(grandchild), child.pid);
  }
  await supervisor.close();
  assert.equal((await child.status).signal, "SIGTERM");
  assert.equal((await child.status).code, 143);
  assert.equal(alive(grandchild), false);
  assert.deepEqual(supervisor.children, []);
  assert.throws(() => supervisor.spawn(process.execPath), {
    message: `ProcessSupervisor is closed: cannot spawn ${JSON.stringify(process.execPath)}`,
  });
});

test("close: a child that ignores SIGTERM gets SIGKILL after killGraceMs", async () => {
  const supervisor = new ProcessSupervisor({ killGraceMs: 200 });
  const child = supervisor.spawn(
    process.execPath,
    [
      "-e",
      'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)',
    ],
    { stdout: "piped" },
  );
  assert.equal(await firstLine(child), "ready");
  const started = performance.now();
  await supervisor.close();
  const took = performance.now() - started;
  assert.equal((await child.status).signal, "SIGKILL");
  assert.ok(took >= 200, `waited ${took} ms`);
});

test(
  "close: a grandchild in a session of its own is found in /proc and killed",
  {
    skip: !linux,
  },
  async () => {
    const supervisor = new ProcessSupervisor({ killGraceMs: 2_000 });
    const child = supervisor.spawn(process.execPath, [
      "-e",
      parentOf(SLEEP, { detached: true }),
    ], {
      stdout: "piped",
    });
    const grandchild = Number(await firstLine(child));
    assert.ok(alive(grandchild));
    await supervisor.close();
    assert.equal((await child.status).signal, "SIGTERM");
    assert.equal(alive(grandchild), false);
  },
);

test(
  "killOrphans: signals tracked children and untracked ones found in /proc",
  {
    skip: !linux,
  },
  async () => {
    await supervised(async (supervisor) => {
      const tracked = supervisor.spawn(process.execPath, ["-e", SLEEP]);
      const untracked = spawn(process.execPath, ["-e", SLEEP], {
        stdio: "ignore",
      });
      const untrackedExit = new Promise((resolve) =>
        untracked.once("exit", (_, signal) => resolve(signal))
      );
      const killed = await supervisor.killOrphans();
      assert.deepEqual([...killed].sort(), [tracked.pid, untracked.pid].sort());
      assert.equal((await tracked.status).signal, "SIGTERM");
      assert.equal(await untrackedExit, "SIGTERM");
    });
  },
);
