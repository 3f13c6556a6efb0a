/**
 * The supervisor's subprocess calls on Node: `node:child_process` to start
 * children, `process.kill` to signal pids and process groups, `node:fs` to
 * read /proc. The modules are taken with `process.getBuiltinModule` (Node
 * 20.16 and later), so nothing is loaded where they are not used. Internal.
 *
 * @module
 */

import { SubprocessUnavailableError } from "./process_tree.ts";
import type { Spawner } from "./spawner.ts";
import { NodeChild, type NodeChildProcessModule, type NodeModules } from "./node_child.ts";
import type { NodeFsSync } from "./node_command.ts";

/** The parts of Node's `process` used here. */
interface NodeProcess {
  readonly pid: number;
  readonly platform: string;
  readonly env: Record<string, string | undefined>;
  cwd(): string;
  kill(pid: number, signal: string | number): void;
  getBuiltinModule?(name: string): unknown;
}

/** The parts of `node:fs/promises` used here. */
interface NodeFs {
  readdir(path: string): Promise<string[]>;
  readFile(path: string, encoding: "utf8"): Promise<string>;
}

/** Node's error codes for a refusal by Node itself (permission model) and by the system. */
const NOT_CAPABLE = "ERR_ACCESS_DENIED";
const errorCode = (error: unknown) => (error as { code?: unknown } | null)?.code;

/** A {@link Spawner} on Node's modules, or `undefined` where they are missing. */
export function nodeSpawner(): Spawner | undefined {
  const process = (globalThis as { process?: NodeProcess }).process;
  const load = process?.getBuiltinModule?.bind(process);
  const childProcess = load?.("node:child_process") as NodeChildProcessModule | undefined;
  if (process === undefined || load === undefined || childProcess === undefined) return undefined;
  const modules: NodeModules = {
    childProcess,
    stream: load("node:stream") as NodeModules["stream"],
    signals: (load("node:os") as { constants: { signals: Record<string, number> } }).constants
      .signals,
    env: process.env,
    // Finding commands as Deno does is written for POSIX systems.
    fs: process.platform === "win32" ? undefined : load("node:fs") as NodeFsSync,
    cwd: () => process.cwd(),
  };
  const isNotCapable = (error: unknown) => errorCode(error) === NOT_CAPABLE;
  return {
    pid: process.pid,
    os: process.platform === "win32" ? "windows" : process.platform,
    permissionHint: "grant it with --allow-child-process",
    spawn: (command, args, options) => NodeChild.spawn(modules, command, args, options),
    kill: (pid, signal) => process.kill(pid, signal),
    isNotCapable,
    isPermissionError: (error) => isNotCapable(error) || errorCode(error) === "EPERM",
    procStats: () => procStats(load("node:fs/promises") as NodeFs),
  };
}

/** Every /proc/<pid>/stat, read with `node:fs`. */
async function procStats(fs: NodeFs): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir("/proc");
  } catch (error) {
    if (errorCode(error) !== NOT_CAPABLE) throw error;
    throw new SubprocessUnavailableError(
      "ProcessSupervisor needs to read /proc to find the processes it must stop: " +
        "Node's permission model allows that with --allow-fs-read=/proc",
      { cause: error },
    );
  }
  const lines: string[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      lines.push(await fs.readFile(`/proc/${name}/stat`, "utf8"));
    } catch {
      // The process exited while we looked.
    }
  }
  return lines;
}
