/**
 * A watchdog gives up on a hung job and dumps what it was doing, and a
 * process supervisor makes sure no child process outlives the program,
 * including one started behind its back, nor anything a child started.
 *
 * Run: deno run --allow-run examples/supervisor.ts
 * (Linux finds untracked children in /proc; elsewhere only tracked ones.)
 */
import { ProcessSupervisor, WatchdogTimeoutError, withWatchdog } from "../mod.ts";

// 1. A job that hangs: the watchdog aborts it after 200 ms.
let step = "starting";
try {
  await withWatchdog(async (signal) => {
    step = "waiting for the lock";
    await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  }, {
    name: "nightly-import",
    timeoutMs: 200,
    onTimeout: () => console.log(`watchdog: job stuck while ${step}`),
  });
} catch (error) {
  if (!(error instanceof WatchdogTimeoutError)) throw error;
  console.log(`watchdog: ${error.message}`);
}

// 2. Child processes: two supervised, one started directly.
await using supervisor = new ProcessSupervisor({ killGraceMs: 1_000 });
const workers = [supervisor.spawn("sleep", ["60"]), supervisor.spawn("sleep", ["60"])];
const stray = new Deno.Command("sleep", { args: ["60"] }).spawn();
console.log(`supervising ${supervisor.children.length} children; 1 more started directly`);

const killed = await supervisor.killOrphans();
const strayFound = killed.includes(stray.pid);
console.log(
  `killOrphans signalled ${killed.length} processes` +
    (strayFound ? " (the direct one too)" : ""),
);
if (!strayFound) stray.kill(); // not Linux: nothing to find it through
for (const child of [...workers, stray]) {
  const status = await child.status;
  console.log(`pid ${child.pid} exited by ${status.signal ?? `code ${status.code}`}`);
}
console.log(`still supervised: ${supervisor.children.length}`);

// 3. A child's own children: close() signals the child's process group and
//    the tree it read from /proc first, so the shell's `sleep` does not live
//    on, re-parented to PID 1, after the shell dies.
{
  const tree = new ProcessSupervisor({ killGraceMs: 1_000 });
  const shell = tree.spawn("sh", ["-c", "sleep 60 >/dev/null & echo $!; wait"], {
    stdout: "piped",
  });
  const output = shell.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const grandchild = Number((await output.read()).value);
  await tree.close();
  await output.cancel();
  console.log(
    `close(): the shell exited by ${(await shell.status).signal}, ` +
      `and took its sleep (pid ${grandchild}) with it`,
  );
}
