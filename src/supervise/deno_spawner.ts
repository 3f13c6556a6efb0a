/**
 * The supervisor's subprocess calls on Deno: `Deno.Command`, `Deno.kill`,
 * and /proc read with `Deno.readDir` (or, without `--allow-all`, through a
 * short-lived `cat`). Internal.
 *
 * @module
 */

import { SubprocessUnavailableError } from "./process_tree.ts";
import type { Spawner } from "./spawner.ts";

/**
 * A {@link Spawner} on Deno's APIs; why subprocesses cannot run on this
 * Deno; or `undefined` outside Deno.
 */
export function denoSpawner(): Spawner | string | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (deno === undefined) return undefined;
  if (typeof deno.Command !== "function") return "this runtime has no Deno.Command";
  if (isDenoDeploy(deno)) return "Deno Deploy does not allow subprocesses";
  const isNotCapable = (error: unknown) => error instanceof deno.errors.NotCapable;
  const isPermissionError = (error: unknown) =>
    isNotCapable(error) || error instanceof deno.errors.PermissionDenied;
  return {
    pid: deno.pid,
    os: deno.build.os,
    permissionHint: "grant it with --allow-run",
    spawn: (command, args, options) => new deno.Command(command, { ...options, args }).spawn(),
    kill: (pid, signal) => deno.kill(pid, signal),
    isNotCapable,
    isPermissionError,
    procStats: () => procStats(deno, isPermissionError),
  };
}

/**
 * Every /proc/<pid>/stat. Deno 2.9 lets a program read /proc only under
 * `--allow-all`; without it the table is read by a short-lived `cat`
 * (through `/bin/sh`, for the glob), which needs permission to run it.
 */
async function procStats(
  deno: typeof Deno,
  isPermissionError: (error: unknown) => boolean,
): Promise<string[]> {
  try {
    const lines: string[] = [];
    for await (const entry of deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        lines.push(await deno.readTextFile(`/proc/${entry.name}/stat`));
      } catch (error) {
        if (isPermissionError(error)) throw error;
        // The process exited while we looked.
      }
    }
    return lines;
  } catch (error) {
    if (!isPermissionError(error)) throw error;
  }
  let reader: Deno.ChildProcess;
  try {
    reader = new deno.Command("/bin/sh", {
      args: ["-c", "exec cat /proc/[0-9]*/stat 2>/dev/null"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
  } catch (error) {
    if (!isPermissionError(error)) throw error;
    throw new SubprocessUnavailableError(
      "ProcessSupervisor.killOrphans needs to read /proc to find untracked child processes: " +
        "Deno allows that with --allow-all, or through a subprocess with permission to run " +
        "/bin/sh (--allow-run)",
      { cause: error },
    );
  }
  const { stdout } = await reader.output();
  const own = `${reader.pid} (`;
  return new TextDecoder().decode(stdout).split("\n").filter((line) => !line.startsWith(own));
}

function isDenoDeploy(deno: typeof Deno): boolean {
  try {
    // Ask only when already allowed: reading the variable must never prompt.
    const query = { name: "env", variable: "DENO_DEPLOYMENT_ID" } as const;
    if (deno.permissions?.querySync?.(query).state !== "granted") return false;
    return deno.env.get("DENO_DEPLOYMENT_ID") !== undefined;
  } catch {
    return false;
  }
}
