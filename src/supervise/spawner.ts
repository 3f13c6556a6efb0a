/**
 * What `ProcessSupervisor` needs from the runtime, and the runtime's answer:
 * `Deno.Command` and `Deno.kill` on Deno, `node:child_process` and
 * `process.kill` on Node (and runtimes that provide Node's modules). The
 * supervisor's logic is the same on both; only these few calls differ.
 * Internal.
 *
 * @module
 */

import { denoSpawner } from "./deno_spawner.ts";
import { nodeSpawner } from "./node_spawner.ts";
import type {
  SupervisedChild,
  SupervisedSignal,
  SupervisedSpawnOptions,
} from "./supervised_child.ts";

/** The runtime's subprocess calls, as the supervisor uses them. */
export interface Spawner {
  /** This process's id. */
  readonly pid: number;
  /** The operating system, as `Deno.build.os` names it ("linux", "darwin", "windows", ...). */
  readonly os: string;
  /** How to allow running subprocesses, for the message when that was denied. */
  readonly permissionHint: string;
  /** Starts `command`; throws synchronously when it cannot be started. */
  spawn(
    command: string | URL,
    args: string[],
    options: SupervisedSpawnOptions,
  ): SupervisedChild;
  /**
   * Signals `pid` (a process group when negative; `0` only checks that it
   * exists); throws when it is gone or refused.
   */
  kill(pid: number, signal: SupervisedSignal | 0): void;
  /** The runtime itself refused (Deno's `NotCapable`, Node's `ERR_ACCESS_DENIED`). */
  isNotCapable(error: unknown): boolean;
  /** The runtime or the system refused (also `EPERM`: another user's process). */
  isPermissionError(error: unknown): boolean;
  /**
   * The text of every `/proc/<pid>/stat` (Linux); throws a
   * `SubprocessUnavailableError` when /proc cannot be read.
   */
  procStats(): Promise<string[]>;
}

/** The runtime's spawner, or why subprocesses cannot run here. */
export function runtimeSpawner(): Spawner | string {
  return denoSpawner() ?? nodeSpawner() ??
    "this runtime has neither Deno.Command nor node:child_process (Node 20.16 or later)";
}
