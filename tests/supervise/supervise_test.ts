import assert from "node:assert/strict";
import { withWatchdog } from "../../src/supervise/watchdog.ts";
import {
  ProcessSupervisor,
  SubprocessUnavailableError,
  type SupervisedChild,
  type SupervisedSignal,
  type SupervisedSpawnOptions,
} from "../../src/supervise/process_supervisor.ts";
import { VirtualClock } from "../../src/core/virtual_clock.ts";
import { WatchdogTimeoutError } from "../../src/core/errors.ts";
import { recorder, settleLater } from "../_helpers.ts";

// --- withWatchdog ------------------------------------------------------------

/** An operation that never settles and records the signal it was given. */
function hung() {
  const seen: { signal?: AbortSignal } = {};
  const fn = (signal: AbortSignal) => {
    seen.signal = signal;
    return new Promise<never>(() => {});
  };
  return { fn, seen };
}

Deno.test("watchdog: a hung fn is abandoned at exactly timeoutMs", async () => {
  const clock = new VirtualClock(100);
  const rec = recorder();
  const dumps: unknown[] = [];
  const { fn, seen } = hung();
  let rejectedAt = -1;
  const result = settleLater(
    withWatchdog(fn, {
      timeoutMs: 500,
      name: "import-job",
      clock,
      onEvent: rec.onEvent,
      onTimeout: (error) => {
        dumps.push(error);
        assert.equal(seen.signal!.aborted, false, "onTimeout runs before the abort");
      },
    }).catch((e) => {
      rejectedAt = clock.now();
      throw e;
    }),
  );
  await clock.advance(499);
  assert.equal(rejectedAt, -1);
  assert.equal(seen.signal!.aborted, false);
  await clock.advance(1);
  const r = await result;
  assert.equal(rejectedAt, 600);
  assert.ok(!r.ok);
  const error = r.error;
  assert.ok(error instanceof WatchdogTimeoutError);
  assert.equal(error.policy, "import-job");
  assert.equal(error.message, 'watchdog "import-job" timed out after 500 ms');
  assert.equal(seen.signal!.aborted, true);
  assert.equal(seen.signal!.reason, error);
  assert.deepEqual(dumps, [error]);
  assert.deepEqual(rec.events, [
    { type: "watchdog_timeout", policy: "import-job", timestamp: 600, timeoutMs: 500 },
  ]);
  assert.equal(clock.pending, 0);
  await clock.advance(10_000);
  assert.equal(dumps.length, 1, "onTimeout runs once");
});

Deno.test("watchdog: a fast fn settles normally and clears its timer", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  let timeouts = 0;
  const value = await withWatchdog((signal) => Promise.resolve(signal.aborted ? "late" : "fast"), {
    timeoutMs: 1_000,
    clock,
    onEvent: rec.onEvent,
    onTimeout: () => timeouts++,
  });
  assert.equal(value, "fast");
  assert.equal(clock.pending, 0);
  assert.equal(clock.timersCreated, 1);

  const boom = new Error("boom");
  await assert.rejects(withWatchdog(() => Promise.reject(boom), { timeoutMs: 5, clock }), (e) => {
    assert.equal(e, boom);
    return true;
  });
  assert.equal(clock.pending, 0);
  await assert.rejects(
    withWatchdog(() => {
      throw boom;
    }, { timeoutMs: 5, clock }),
    (e) => e === boom,
  );
  assert.equal(clock.pending, 0);
  assert.equal(await withWatchdog(() => 42, { timeoutMs: 5, clock }), 42);
  assert.equal(clock.pending, 0);
  await clock.runAll();
  assert.equal(timeouts, 0);
  assert.equal(rec.events.length, 0);
});

Deno.test("watchdog: a throwing or rejecting onTimeout is isolated", async () => {
  const clock = new VirtualClock();
  for (
    const onTimeout of [
      () => {
        throw new Error("dump failed");
      },
      () => Promise.reject(new Error("async dump failed")),
    ]
  ) {
    const r = settleLater(withWatchdog(hung().fn, { timeoutMs: 10, clock, onTimeout }));
    await clock.runAll();
    const settled = await r;
    assert.ok(!settled.ok && settled.error instanceof WatchdogTimeoutError);
  }
});

Deno.test("watchdog: the caller's signal aborts fn and the call with its reason", async () => {
  const clock = new VirtualClock();
  const rec = recorder();
  const { fn, seen } = hung();
  const controller = new AbortController();
  const r = settleLater(
    withWatchdog(fn, { timeoutMs: 100, clock, signal: controller.signal, onEvent: rec.onEvent }),
  );
  await clock.advance(50);
  const reason = new Error("shutting down");
  controller.abort(reason);
  assert.deepEqual(await r, { ok: false, error: reason });
  assert.equal(seen.signal!.reason, reason);
  assert.equal(clock.pending, 0);
  assert.equal(rec.events.length, 0);

  let called = false;
  await assert.rejects(
    withWatchdog(() => (called = true), { timeoutMs: 100, clock, signal: AbortSignal.abort("x") }),
    (e) => e === "x",
  );
  assert.equal(called, false);
  assert.equal(clock.pending, 0);
});

Deno.test("watchdog: fn settling after the timeout changes nothing", async () => {
  const clock = new VirtualClock();
  let late!: (v: string) => void;
  let fail!: (e: unknown) => void;
  const a = settleLater(
    withWatchdog(() => new Promise<string>((res) => (late = res)), { timeoutMs: 10, clock }),
  );
  const b = settleLater(
    withWatchdog(() => new Promise<string>((_, rej) => (fail = rej)), { timeoutMs: 10, clock }),
  );
  await clock.runAll();
  late("too late");
  fail(new Error("too late")); // handled by the watchdog: no unhandled rejection
  const [ra, rb] = await Promise.all([a, b]);
  assert.ok(!ra.ok && ra.error instanceof WatchdogTimeoutError);
  assert.ok(!rb.ok && rb.error instanceof WatchdogTimeoutError);
});

Deno.test("watchdog: works on the system clock without leaking its timer", async () => {
  await assert.rejects(
    withWatchdog(
      (signal) => new Promise((_, reject) => signal.addEventListener("abort", () => reject("x"))),
      { timeoutMs: 5 },
    ),
    WatchdogTimeoutError,
  );
  assert.equal(await withWatchdog(() => "quick", { timeoutMs: 60_000 }), "quick");
});

Deno.test("watchdog: options are validated with exact messages", () => {
  const fn = () => 1;
  const cases: [unknown, string, string][] = [
    [{ timeoutMs: 0 }, "RangeError", "timeoutMs must be a number > 0: received 0"],
    [{}, "TypeError", "timeoutMs must be a number > 0: received undefined"],
    [
      { timeoutMs: 5, onTimeout: "log" },
      "TypeError",
      'onTimeout must be a function: received "log"',
    ],
    [{ timeoutMs: 5, name: "" }, "TypeError", 'name must be a non-empty string: received ""'],
    [{ timeoutMs: 5, signal: {} }, "TypeError", "signal must be an AbortSignal: received {}"],
    [
      { timeoutMs: 5, timeout: 5 },
      "TypeError",
      "timeout is not a known option (expected one of: timeoutMs, onTimeout, name, signal, clock, onEvent)",
    ],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => withWatchdog(fn, options as never), { name, message });
  }
});

// --- ProcessSupervisor -------------------------------------------------------

/**
 * The process table as [pid, ppid, state] rows. Deno 2.9 reads /proc only
 * under --allow-all, so a `cat` reads it (and leaves itself out).
 */
async function processTable(): Promise<[number, number, string][]> {
  const reader = new Deno.Command("/bin/sh", {
    args: ["-c", "exec cat /proc/[0-9]*/stat 2>/dev/null"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const text = new TextDecoder().decode((await reader.output()).stdout);
  const rows: [number, number, string][] = [];
  for (const line of text.split("\n")) {
    const close = line.lastIndexOf(")");
    if (close === -1) continue;
    const pid = Number(line.slice(0, line.indexOf(" (")));
    const [state, ppid] = line.slice(close + 2).split(" ");
    if (pid !== reader.pid) rows.push([pid, Number(ppid), state]);
  }
  return rows;
}

/** Pids of living (not zombie) processes whose parent is `ppid`. */
async function childrenOf(ppid: number): Promise<number[]> {
  return (await processTable())
    .filter(([, parent, state]) => parent === ppid && state !== "Z")
    .map(([pid]) => pid);
}

/** Waits (in real time, briefly) until `pid` has exited: reaped, or a zombie. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    const row = (await processTable()).find(([p]) => p === pid);
    if (row === undefined || row[2] === "Z") return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

/** Reads the first line a child prints, then leaves the rest to `drain`. */
async function firstLine(
  child: Deno.ChildProcess,
): Promise<{ line: string; drain: Promise<void> }> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return { line: text.split("\n")[0], drain };
}

const linux = Deno.build.os === "linux";

Deno.test({
  name: "killOrphans: kills a tracked child and an untracked direct child found via /proc",
  ignore: !linux,
  async fn() {
    await using supervisor = new ProcessSupervisor();
    const tracked = supervisor.spawn("sleep", ["60"]);
    const untracked = new Deno.Command("sleep", { args: ["60"] }).spawn();
    assert.deepEqual(supervisor.children, [tracked]);
    const mine = await childrenOf(Deno.pid);
    assert.ok(mine.includes(tracked.pid) && mine.includes(untracked.pid));

    const killed = await supervisor.killOrphans();
    assert.ok(killed.includes(tracked.pid), `tracked ${tracked.pid} in ${killed}`);
    assert.ok(killed.includes(untracked.pid), `untracked ${untracked.pid} in ${killed}`);
    const [s1, s2] = await Promise.all([tracked.status, untracked.status]);
    assert.equal(s1.signal, "SIGTERM");
    assert.equal(s2.signal, "SIGTERM");
    assert.deepEqual(supervisor.children, []);
    assert.deepEqual(await childrenOf(Deno.pid), []);
    assert.deepEqual(await supervisor.killOrphans(), [], "nothing left to kill");
  },
});

Deno.test({
  name: "killOrphans: also kills a grandchild started by a supervised shell, deepest first",
  ignore: !linux,
  async fn() {
    await using supervisor = new ProcessSupervisor();
    const shell = supervisor.spawn("sh", ["-c", "sleep 60 & echo $!; exec sleep 61"], {
      stdout: "piped",
    });
    const { line, drain } = await firstLine(shell);
    const grandchild = Number(line);
    assert.ok(Number.isInteger(grandchild) && grandchild > 0, line);
    assert.deepEqual(await childrenOf(shell.pid), [grandchild]);

    const killed = await supervisor.killOrphans("SIGKILL");
    assert.deepEqual(killed, [grandchild, shell.pid]);
    assert.equal((await shell.status).signal, "SIGKILL");
    await drain;
    assert.ok(await gone(grandchild), "the grandchild is gone");
    assert.deepEqual(await childrenOf(Deno.pid), []);
  },
});

Deno.test("close: kills every tracked child, awaits their exit, then refuses to spawn", async () => {
  const supervisor = new ProcessSupervisor();
  const a = supervisor.spawn("sleep", ["60"]);
  const b = supervisor.spawn("sleep", ["60"]);
  const done = supervisor.spawn("true");
  await done.status;
  assert.deepEqual(supervisor.children, [a, b]);
  const closing = supervisor.close();
  assert.equal(supervisor.close(), closing, "close is idempotent");
  assert.equal(supervisor.closed, true);
  await closing;
  assert.deepEqual(supervisor.children, []);
  assert.equal((await a.status).signal, "SIGTERM");
  assert.equal((await b.status).signal, "SIGTERM");
  assert.throws(() => supervisor.spawn("true"), {
    name: "Error",
    message: 'ProcessSupervisor is closed: cannot spawn "true"',
  });
  await supervisor[Symbol.asyncDispose]();
});

Deno.test({
  name: "close: a child that ignores SIGTERM gets SIGKILL after killGraceMs",
  ignore: !linux,
  async fn() {
    const clock = new VirtualClock();
    const supervisor = new ProcessSupervisor({ killGraceMs: 2_000, clock });
    // `exec` keeps one process; the ignored SIGTERM survives the exec.
    const stubborn = supervisor.spawn("sh", ["-c", 'trap "" TERM; echo ready; exec sleep 60'], {
      stdout: "piped",
    });
    const { line, drain } = await firstLine(stubborn);
    assert.equal(line, "ready");
    let closed = false;
    const closing = supervisor.close().then(() => (closed = true));
    // close() reads the process table before it signals and starts the grace timer.
    for (let i = 0; i < 200 && clock.pending === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // real time: SIGTERM is ignored
    assert.equal(closed, false);
    assert.equal(clock.pending, 1);
    await clock.advance(2_000);
    await closing;
    assert.equal((await stubborn.status).signal, "SIGKILL");
    assert.equal(clock.pending, 0);
    await drain;
  },
});

/** The process's session id, from /proc (undefined once it has exited). */
async function sessionOf(pid: number): Promise<number | undefined> {
  const text = new TextDecoder().decode(
    (await new Deno.Command("cat", { args: [`/proc/${pid}/stat`], stdout: "piped", stderr: "null" })
      .output()).stdout,
  );
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return text === "" ? undefined : Number(fields[3]);
}

/** Kills `pid` if a failed test left it running. */
function cleanUp(pid: number): void {
  try {
    if (Number.isInteger(pid) && pid > 0) Deno.kill(pid, "SIGKILL");
  } catch { /* gone already */ }
}

/**
 * Spawns `script` under `sh -c` on `supervisor`, with stdout piped; the
 * script prints its grandchild's pid first (the grandchild's own stdout
 * goes to /dev/null, so that it does not hold the pipe open).
 */
async function shellWithGrandchild(supervisor: ProcessSupervisor, script: string) {
  const shell = supervisor.spawn("sh", ["-c", script], { stdout: "piped" });
  const { line, drain } = await firstLine(shell);
  const grandchild = Number(line);
  assert.ok(Number.isInteger(grandchild) && grandchild > 0, `grandchild pid: ${line}`);
  return { shell, grandchild, drain };
}

Deno.test({
  name: "close (await using): a grandchild does not outlive the supervisor",
  ignore: !linux,
  async fn() {
    let grandchild = 0;
    try {
      let shell: Deno.ChildProcess;
      let drain: Promise<void>;
      {
        await using supervisor = new ProcessSupervisor();
        ({ shell, grandchild, drain } = await shellWithGrandchild(
          supervisor,
          "sleep 60 >/dev/null & echo $!; wait",
        ));
        assert.deepEqual(await childrenOf(shell.pid), [grandchild]);
      } // disposed: the shell got SIGTERM; the sleep must not be re-parented to PID 1 and live on
      assert.equal((await shell.status).signal, "SIGTERM");
      await drain;
      assert.ok(await gone(grandchild), `grandchild ${grandchild} still running`);
    } finally {
      cleanUp(grandchild);
    }
  },
});

Deno.test({
  name: "close: a child that ignores SIGTERM is SIGKILLed with its grandchild after killGraceMs",
  ignore: !linux,
  async fn() {
    let grandchild = 0;
    try {
      const supervisor = new ProcessSupervisor({ killGraceMs: 100 });
      // The ignored SIGTERM is inherited by the background sleep too.
      const started = await shellWithGrandchild(
        supervisor,
        'trap "" TERM; sleep 60 >/dev/null & echo $!; wait',
      );
      grandchild = started.grandchild;
      await supervisor.close();
      assert.equal((await started.shell.status).signal, "SIGKILL");
      await started.drain;
      assert.ok(await gone(grandchild), `grandchild ${grandchild} still running`);
    } finally {
      cleanUp(grandchild);
    }
  },
});

Deno.test({
  name: "close: a grandchild in a session of its own (setsid) is found in /proc before the kill",
  ignore: !linux,
  async fn() {
    let grandchild = 0;
    try {
      const supervisor = new ProcessSupervisor({ killGraceMs: 1_000 });
      const started = await shellWithGrandchild(
        supervisor,
        "setsid sleep 60 >/dev/null & echo $!; wait",
      );
      grandchild = started.grandchild;
      // Wait until setsid has run (it execs sleep in the same process).
      let session: number | undefined;
      for (let i = 0; i < 100; i++) {
        session = await sessionOf(grandchild);
        if (session === grandchild) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(session, grandchild, "the grandchild leads a session of its own");
      await supervisor.close();
      assert.equal((await started.shell.status).signal, "SIGTERM");
      await started.drain;
      assert.ok(await gone(grandchild), `grandchild ${grandchild} still running`);
    } finally {
      cleanUp(grandchild);
    }
  },
});

for (const how of ["close", "killOrphans"] as const) {
  Deno.test({
    name: `${how}: what a child that exited left behind (re-parented to PID 1) is found`,
    ignore: !linux,
    async fn() {
      let grandchild = 0;
      try {
        const supervisor = new ProcessSupervisor();
        const started = await shellWithGrandchild(supervisor, "sleep 60 >/dev/null & echo $!");
        grandchild = started.grandchild;
        assert.equal((await started.shell.status).code, 0); // the child exits on its own
        await started.drain;
        assert.deepEqual(supervisor.children, []);
        assert.ok(!(await childrenOf(Deno.pid)).includes(grandchild), "re-parented");
        if (how === "killOrphans") {
          assert.deepEqual(await supervisor.killOrphans(), [grandchild]);
        }
        await supervisor.close();
        assert.ok(await gone(grandchild), `grandchild ${grandchild} still running`);
      } finally {
        cleanUp(grandchild);
      }
    },
  });
}

Deno.test("ProcessSupervisor: a clear error where Deno.Command is missing or on Deno Deploy", () => {
  const descriptor = Object.getOwnPropertyDescriptor(Deno, "Command")!;
  Object.defineProperty(Deno, "Command", { value: undefined, configurable: true });
  try {
    assert.throws(() => new ProcessSupervisor(), (e: unknown) => {
      assert.ok(e instanceof SubprocessUnavailableError);
      assert.equal(
        e.message,
        "ProcessSupervisor needs subprocess support (Deno.Command); it is not available here (this runtime has no Deno.Command)",
      );
      return true;
    });
  } finally {
    Object.defineProperty(Deno, "Command", descriptor);
  }
  Deno.env.set("DENO_DEPLOYMENT_ID", "test-deployment");
  try {
    assert.throws(() => new ProcessSupervisor(), {
      name: "SubprocessUnavailableError",
      message:
        "ProcessSupervisor needs subprocess support (Deno.Command); it is not available here (Deno Deploy does not allow subprocesses)",
    });
  } finally {
    Deno.env.delete("DENO_DEPLOYMENT_ID");
  }
  new ProcessSupervisor(); // available again
});

Deno.test("ProcessSupervisor: spawn without --allow-run throws a clear error", async () => {
  const module = new URL("../../src/supervise/process_supervisor.ts", import.meta.url).href;
  const script = `
    import { ProcessSupervisor } from ${JSON.stringify(module)};
    try {
      new ProcessSupervisor().spawn("sleep", ["1"]);
      console.log("spawned");
    } catch (e) {
      console.log(e.name + ": " + e.message + " / cause " + e.cause?.name);
    }
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const out = new TextDecoder().decode(stdout).trim();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  assert.equal(
    out,
    'SubprocessUnavailableError: ProcessSupervisor needs subprocess support (Deno.Command); permission to run "sleep" was denied (grant it with --allow-run) / cause NotCapable',
  );
});

Deno.test("ProcessSupervisor: options and spawn arguments are validated", () => {
  const cases: [unknown, string, string][] = [
    [{ killGraceMs: -1 }, "RangeError", "killGraceMs must be a number >= 0: received -1"],
    [
      { killSignal: "TERM" },
      "TypeError",
      'killSignal must be a signal name such as "SIGTERM": received "TERM"',
    ],
    [
      { grace: 1 },
      "TypeError",
      "grace is not a known option (expected one of: killSignal, killGraceMs, clock)",
    ],
  ];
  for (const [options, name, message] of cases) {
    assert.throws(() => new ProcessSupervisor(options as never), { name, message });
  }
  const supervisor = new ProcessSupervisor();
  assert.throws(() => supervisor.spawn("sleep", "60" as never), {
    name: "TypeError",
    message: 'args must be an array of strings: received "60"',
  });
  assert.throws(() => supervisor.spawn("sleep", [], { args: ["60"] } as never), {
    name: "TypeError",
    message: "options.args is not allowed: pass the arguments as spawn's second argument",
  });
  assert.throws(() => supervisor.spawn("/no/such/binary"), Deno.errors.NotFound);
  assert.deepEqual(supervisor.children, []);
});

Deno.test({
  name: "ProcessSupervisor: no child of this process is left running",
  ignore: !linux,
  async fn() {
    assert.deepEqual(await childrenOf(Deno.pid), []);
  },
});

Deno.test("ProcessSupervisor: a file the system will not run is PermissionDenied (EACCES) as thrown, not a missing --allow-run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "bulwark_spawn_" });
  try {
    const file = `${dir}/notes.txt`;
    await Deno.writeTextFile(file, "not a program\n", { mode: 0o644 });
    await Deno.chmod(file, 0o644);
    const supervisor = new ProcessSupervisor();
    assert.throws(() => supervisor.spawn(file), {
      name: "PermissionDenied",
      code: "EACCES",
      message: `Failed to spawn '${file}': Permission denied (os error 13)`,
    });
    assert.deepEqual(supervisor.children, []);
    await supervisor.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ProcessSupervisor: a SupervisedChild is a Deno.ChildProcess and back, its options Deno.CommandOptions", async () => {
  // Type-checked: Deno code may keep naming Deno's types.
  const options: Deno.CommandOptions = { stdout: "piped", stderr: "null", env: { A: "1" } };
  const { args: _, ...spawnOptions } = options;
  const supervised: SupervisedSpawnOptions = spawnOptions;
  await using supervisor = new ProcessSupervisor();
  const child: Deno.ChildProcess = supervisor.spawn("sh", ["-c", "echo $A"], supervised);
  const own: SupervisedChild = new Deno.Command("true").spawn();
  const signal: SupervisedSignal = "SIGTERM" satisfies Deno.Signal;
  const denoSignal: Deno.Signal = signal;
  assert.equal(await child.stdout.text(), "1\n");
  const status: Deno.CommandStatus = await child.status;
  assert.deepEqual({ ...status }, { success: true, code: 0, signal: null });
  assert.equal((await own.status).code, 0);
  assert.equal(denoSignal, "SIGTERM");
});
