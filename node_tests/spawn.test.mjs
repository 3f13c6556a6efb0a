// ProcessSupervisor.spawn on Node behaves as on Deno where Node's own
// child_process differs: unref() lets the process exit with piped stdio,
// output()'s stdout/stderr throw when not piped, a command that cannot start throws
// Deno's error (name, code, message), and a bare command is found on this
// process's PATH when the child's environment has none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProcessSupervisor } from "@bulwark/bulwark";

const SLEEP = "setInterval(() => {}, 1000)";

/** Runs `fn` with a supervisor and closes it after (Node 20 has no `await using`). */
async function supervised(fn) {
  const supervisor = new ProcessSupervisor();
  try {
    return await fn(supervisor);
  } finally {
    await supervisor.close();
  }
}

/** Runs `fn` with a fresh temp dir, removed after. */
async function inTempDir(fn) {
  const dir = mkdtempSync(join(tmpdir(), "bulwark_spawn_"));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("unref(): a node process whose only child is unref'd exits while the child runs, piped stdio too", async () => {
  // The parent imports the package from node_tests/ (its cwd), spawns a
  // child that never exits with all three stdio streams piped, unrefs it and
  // prints its pid. Unref'd on Node's child handle alone, the pipes kept the
  // parent alive until the child ended (here: never).
  const script = `
    import { ProcessSupervisor } from "@bulwark/bulwark";
    const child = new ProcessSupervisor().spawn(process.execPath, ["-e", ${
    JSON.stringify(SLEEP)
  }], {
      stdin: "piped", stdout: "piped", stderr: "piped",
    });
    child.unref();
    console.log(child.pid);
  `;
  const parent = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: import.meta.dirname,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  parent.stdout.setEncoding("utf8").on("data", (text) => (out += text));
  const exited = new Promise((resolve) => parent.once("exit", (code) => resolve(code)));
  let timer;
  const late = new Promise((
    resolve,
  ) => (timer = setTimeout(() => resolve("still running"), 10_000)));
  try {
    assert.equal(await Promise.race([exited, late]), 0);
  } finally {
    clearTimeout(timer);
    parent.kill("SIGKILL");
    const pid = Number(out.trim());
    // The child's own process group (the supervisor's default): gone with it.
    if (pid > 0) process.kill(-pid, "SIGKILL");
    await exited;
  }
});

test("output(): reading a stdout or stderr that was not piped is Deno's TypeError, not empty bytes", async () => {
  await supervised(async (supervisor) => {
    for (
      const [options, name] of [
        [{ stdout: "null", stderr: "piped" }, "stdout"],
        [{ stdout: "inherit", stderr: "piped" }, "stdout"],
        [{ stdout: "piped" }, "stderr"],
      ]
    ) {
      const child = supervisor.spawn("true", [], options);
      const message = `Cannot get '${name}': '${name}' is not piped`;
      const output = await child.output();
      // The status is there; the stream that was not piped throws, as on Deno.
      assert.deepEqual([output.success, output.code, output.signal], [true, 0, null]);
      assert.throws(() => output[name], { name: "TypeError", message });
      assert.equal(output[name === "stdout" ? "stderr" : "stdout"].length, 0);
      assert.throws(() => child[name], { name: "TypeError", message });
    }
  });
});

test("spawn: a missing command or cwd is NotFound, a file that is not executable PermissionDenied, as on Deno", async () => {
  await inTempDir((dir) =>
    supervised((supervisor) => {
      const text = join(dir, "notes.txt");
      writeFileSync(text, "not a program\n");
      chmodSync(text, 0o644);
      for (
        const [command, options, name, code, message] of [
          [
            "no-such-cmd-xyz",
            {},
            "NotFound",
            "ENOENT",
            "Failed to spawn 'no-such-cmd-xyz': entity not found",
          ],
          [
            process.execPath,
            { cwd: "/no/such/dir" },
            "NotFound",
            "ENOENT",
            `Failed to spawn '${process.execPath}': No such cwd '/no/such/dir'`,
          ],
          [
            text,
            {},
            "PermissionDenied",
            "EACCES",
            `Failed to spawn '${text}': Permission denied (os error 13)`,
          ],
          [
            "./notes.txt",
            { cwd: dir },
            "PermissionDenied",
            "EACCES",
            "Failed to spawn './notes.txt': Permission denied (os error 13)",
          ],
        ]
      ) {
        assert.throws(() => supervisor.spawn(command, [], options), (error) => {
          assert.deepEqual(
            [error.constructor.name, error.name, error.code, error.message],
            [name, name, code, message],
          );
          return true;
        });
      }
      assert.deepEqual(supervisor.children, []);
    })
  );
});

test("spawn: with clearEnv (no PATH for the child) a bare command is found on this process's PATH, as on Deno", async () => {
  await inTempDir(async (dir) => {
    // A command only this process's PATH leads to (Node's default path would not).
    writeFileSync(join(dir, "bulwark-probe"), "#!/bin/sh\necho probe\n");
    chmodSync(join(dir, "bulwark-probe"), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      await supervised(async (supervisor) => {
        const output = await supervisor.spawn("bulwark-probe", [], {
          clearEnv: true,
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(new TextDecoder().decode(output.stdout), "probe\n");
        assert.equal(output.code, 0);
        // A PATH given to the child is the one searched, as on Deno.
        assert.throws(
          () => supervisor.spawn("bulwark-probe", [], { env: { PATH: "/nonexistent" } }),
          {
            name: "NotFound",
            code: "ENOENT",
            message: "Failed to spawn 'bulwark-probe': entity not found",
          },
        );
      });
    } finally {
      process.env.PATH = path;
    }
  });
});

test("stdout/stderr have Deno's reading methods (text, bytes, json, arrayBuffer); kill takes a signal number", async () => {
  await supervised(async (supervisor) => {
    const script = 'console.log(JSON.stringify({ n: 42 })); console.error("oops")';
    const child = supervisor.spawn(process.execPath, ["-e", script], {
      stdout: "piped",
      stderr: "piped",
    });
    const [json, bytes] = await Promise.all([child.stdout.json(), child.stderr.bytes()]);
    assert.deepEqual(json, { n: 42 });
    assert.deepEqual(bytes, new TextEncoder().encode("oops\n"));
    const two = supervisor.spawn(process.execPath, ["-e", "process.stdout.write('hi')"], {
      stdout: "piped",
    });
    assert.equal(new TextDecoder().decode(await two.stdout.arrayBuffer()), "hi");
    const three = supervisor.spawn(process.execPath, ["-e", "console.log('x')"], {
      stdout: "piped",
    });
    assert.equal(await three.stdout.text(), "x\n");
    const sleeper = supervisor.spawn(process.execPath, ["-e", SLEEP]);
    sleeper.kill(9);
    assert.deepEqual({ ...(await sleeper.status) }, {
      success: false,
      code: 137,
      signal: "SIGKILL",
    });
  });
});
