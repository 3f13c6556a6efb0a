/**
 * The process tree a supervisor cleans up: the Linux process table read from
 * /proc (pid, parent, group, session, state), a child's descendants and
 * session members collected from it, and signals sent to pids, groups and
 * children through the runtime's {@link Spawner}; and the error for a runtime without subprocesses (public, re-exported
 * by `process_supervisor.ts`). The rest is internal.
 *
 * @module
 */

import { ResilienceError } from "../core/errors.ts";
import type { Spawner } from "./spawner.ts";
import type { SupervisedChild, SupervisedSignal } from "./supervised_child.ts";

/**
 * Subprocesses cannot be started here: the runtime has neither `Deno.Command`
 * nor `node:child_process` (Deno Deploy, a browser) or permission to run
 * them was denied. `cause` is the runtime's own error, when there is one.
 *
 * @example
 * ```ts
 * import { ResilienceError, SubprocessUnavailableError } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * assert.ok(new SubprocessUnavailableError("no subprocesses") instanceof ResilienceError);
 * ```
 */
export class SubprocessUnavailableError extends ResilienceError {}

/** One line of /proc/<pid>/stat, reduced to what the supervisor needs. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly state: string;
  /** Process group id. */
  readonly pgrp: number;
  /** Session id. */
  readonly session: number;
}

/** Parses a /proc/<pid>/stat line: "pid (comm) state ppid pgrp session ...". */
export function parseStat(line: string): ProcStat | undefined {
  // comm may hold spaces and parentheses, so split after the last ")".
  const close = line.lastIndexOf(")");
  const pid = Number(line.slice(0, line.indexOf(" (")));
  if (close === -1 || !Number.isInteger(pid) || pid <= 0) return undefined;
  const fields = line.slice(close + 2).split(" ");
  const [ppid, pgrp, session] = [Number(fields[1]), Number(fields[2]), Number(fields[3])];
  if (!Number.isInteger(ppid) || !Number.isInteger(pgrp) || !Number.isInteger(session)) {
    return undefined;
  }
  return { pid, ppid, state: fields[0], pgrp, session };
}

/** Zombies (Z) and dead (X) processes have exited already. */
export function exited(stat: ProcStat): boolean {
  return stat.state === "Z" || stat.state === "X";
}

/** Every process in /proc, read through `host` (which may throw a {@link SubprocessUnavailableError}). */
export async function processTable(host: Spawner): Promise<ProcStat[]> {
  const table: ProcStat[] = [];
  for (const line of await host.procStats()) {
    const stat = parseStat(line);
    if (stat !== undefined) table.push(stat);
  }
  return table;
}

/** Living descendants of `root` (zombies excluded), deepest first. */
export function descendantsOf(root: number, table: readonly ProcStat[]): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const stat of table) {
    if (exited(stat)) continue;
    const siblings = byParent.get(stat.ppid);
    if (siblings === undefined) byParent.set(stat.ppid, [stat]);
    else siblings.push(stat);
  }
  const levels: ProcStat[][] = [];
  const seen = new Set<number>([root]);
  let level = byParent.get(root) ?? [];
  while (level.length > 0) {
    levels.push(level);
    const next: ProcStat[] = [];
    for (const stat of level) {
      seen.add(stat.pid);
      for (const child of byParent.get(stat.pid) ?? []) {
        if (!seen.has(child.pid)) next.push(child);
      }
    }
    level = next;
  }
  return levels.reverse().flat();
}

/**
 * Living processes in the trees of `roots` and `sessions`, `roots` left
 * out: every member of a session (or process group) whose id is in
 * `sessions`, wherever its parent is now, and every descendant of a root
 * or of such a member, followed through parent ids. Deepest first.
 */
export function treeOf(
  roots: Iterable<number>,
  sessions: ReadonlySet<number>,
  table: readonly ProcStat[],
): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  const seen = new Set<number>(roots);
  const found: ProcStat[] = [];
  for (const stat of table) {
    if (exited(stat)) continue;
    const siblings = byParent.get(stat.ppid);
    if (siblings === undefined) byParent.set(stat.ppid, [stat]);
    else siblings.push(stat);
    if (!seen.has(stat.pid) && (sessions.has(stat.session) || sessions.has(stat.pgrp))) {
      seen.add(stat.pid);
      found.push(stat);
    }
  }
  const queue = [...seen];
  for (let i = 0; i < queue.length; i++) {
    for (const child of byParent.get(queue[i]) ?? []) {
      if (seen.has(child.pid)) continue;
      seen.add(child.pid);
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found.reverse();
}

/** Whether `pid` (a process group when negative) still exists; zombies count. */
export function exists(host: Spawner, pid: number): boolean {
  try {
    host.kill(pid, 0);
    return true;
  } catch (error) {
    // The runtime's own permission is missing: say so. The system's refusal
    // (EPERM: another user's process) counts as gone, since nothing here
    // could signal it anyway.
    if (host.isNotCapable(error)) throw error;
    return false;
  }
}

/** Whether process group `group` has a member; true when that cannot be known. */
export function groupExists(host: Spawner, group: number): boolean {
  try {
    return exists(host, -group);
  } catch {
    return true;
  }
}

/** Signals `pid` (a process group when negative); false when it was gone or refused. */
export function signalPid(host: Spawner, pid: number, signal: SupervisedSignal): boolean {
  try {
    host.kill(pid, signal);
    return true;
  } catch (error) {
    if (host.isNotCapable(error)) throw error;
    return false; // gone, or another user's process (EPERM)
  }
}

/** Children get a session and process group of their own (`detached`) except on Windows. */
export function groupsSupported(host: Spawner): boolean {
  return host.os !== "windows";
}

/** Signals a child; false when it had exited already. */
export function killChild(
  host: Spawner,
  child: SupervisedChild,
  signal: SupervisedSignal,
): boolean {
  try {
    child.kill(signal);
    return true;
  } catch (error) {
    if (host.isPermissionError(error)) throw error;
    return false;
  }
}
