/**
 * `ProcessSupervisor`: spawns child processes, keeps track of them and
 * makes sure none outlives the program (or the test) that started it.
 *
 * @module
 */

import { type Clock, clockOption, systemClock } from "../core/clock.ts";
import { knownKeys, numberAtLeast, objectValue, typeError } from "../core/validate.ts";
import {
  descendantsOf,
  exists,
  exited,
  groupExists,
  groupsSupported,
  killChild,
  processTable,
  type ProcStat,
  signalPid,
  SubprocessUnavailableError,
  treeOf,
} from "./process_tree.ts";
import { runtimeSpawner, type Spawner } from "./spawner.ts";
import type {
  SupervisedChild,
  SupervisedSignal,
  SupervisedSpawnOptions,
} from "./supervised_child.ts";

export { SubprocessUnavailableError } from "./process_tree.ts";
export type {
  SupervisedChild,
  SupervisedOutput,
  SupervisedReadableStream,
  SupervisedSignal,
  SupervisedSpawnOptions,
  SupervisedStatus,
} from "./supervised_child.ts";

/** Options of {@link ProcessSupervisor}. */
export interface ProcessSupervisorOptions {
  /** Signal sent by `killOrphans()` and `close()`. Default `"SIGTERM"`. */
  killSignal?: SupervisedSignal;
  /**
   * How long `close()` waits after `killSignal` before it sends `SIGKILL`
   * to children still running. Default 5,000.
   */
  killGraceMs?: number;
  /** Clock that times the grace period. Default the system clock. */
  clock?: Clock;
}

const SUPERVISOR_KEYS: readonly string[] = ["killSignal", "killGraceMs", "clock"];

const UNAVAILABLE = "ProcessSupervisor needs subprocess support (Deno.Command)";

/** How often `close()` looks whether the whole tree has exited, in real milliseconds. */
const EXIT_POLL_MS = 10;

/** What `close()` signals: processes by pid, and process groups by id. */
interface Targets {
  readonly pids: Map<number, ProcStat>;
  readonly groups: Set<number>;
}

/**
 * Starts child processes with `Deno.Command` (on Node, `node:child_process`,
 * the child shaped like a `Deno.ChildProcess`), tracks them until they exit,
 * and kills them on request: `killOrphans()` for every child still running
 * (on Linux including processes this program started some other way, found
 * in /proc), `close()` (or `await using`) for the tracked ones and
 * everything they started, waiting until they have exited.
 *
 * Outside Windows each child runs in a session and process group of its
 * own (`detached: true`), so that `close()` can signal the whole group;
 * on Linux it also collects each child's tree from /proc before it
 * signals anything, so that descendants that leave the group (`setsid`)
 * or are re-parented to PID 1 when their parent dies are killed too.
 * The guarantee and its limits are in docs/supervision.md.
 *
 * Constructing one where subprocesses cannot run (Deno Deploy, or neither
 * `Deno.Command` nor `node:child_process`) throws a {@link SubprocessUnavailableError}; so does
 * `spawn()` when permission to run the command is denied.
 *
 * @example Nothing outlives the block
 * ```ts
 * import { ProcessSupervisor } from "@bulwark/bulwark";
 * import assert from "node:assert/strict";
 *
 * let child: Deno.ChildProcess;
 * {
 *   await using supervisor = new ProcessSupervisor();
 *   child = supervisor.spawn("sleep", ["60"]);
 *   assert.equal(supervisor.children.length, 1);
 * } // disposed: the child got SIGTERM and has exited
 * assert.equal((await child.status).signal, "SIGTERM");
 * ```
 */
export class ProcessSupervisor implements AsyncDisposable {
  readonly #children = new Set<SupervisedChild>();
  /**
   * Ids of the sessions (and process groups) of the children started in
   * one of their own: the child's pid. Kept after the child exits while
   * the group still has members, so that what it left behind is found.
   */
  readonly #sessions = new Set<number>();
  readonly #killSignal: SupervisedSignal;
  readonly #killGraceMs: number;
  readonly #clock: Clock;
  readonly #host: Spawner;
  #closing: Promise<void> | undefined;

  /** Validates `options`; throws {@link SubprocessUnavailableError} where subprocesses cannot run. */
  constructor(options: ProcessSupervisorOptions = {}) {
    objectValue("options", options);
    knownKeys("", options, SUPERVISOR_KEYS);
    const killSignal = options.killSignal ?? "SIGTERM";
    if (typeof killSignal !== "string" || !killSignal.startsWith("SIG")) {
      typeError("killSignal", 'a signal name such as "SIGTERM"', killSignal);
    }
    this.#killSignal = killSignal;
    this.#killGraceMs = numberAtLeast("killGraceMs", options.killGraceMs ?? 5_000, 0);
    const clock = clockOption(options.clock ?? undefined, ["now", "setTimer", "clearTimer"]);
    this.#clock = clock;
    const host = runtimeSpawner();
    if (typeof host === "string") {
      throw new SubprocessUnavailableError(`${UNAVAILABLE}; it is not available here (${host})`);
    }
    this.#host = host;
  }

  /** Tracked children that have not exited yet, in spawn order. */
  get children(): readonly SupervisedChild[] {
    return [...this.#children];
  }

  /** True once {@link ProcessSupervisor.close} has been called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Spawns `command` with `args` (`new Deno.Command(command, { ...options,
   * args }).spawn()`, on Node `child_process.spawn` with the same options)
   * and tracks the child until it exits. Returns the `Deno.ChildProcess`
   * (on Node an object with its members: `pid`, `status`, `kill`, `stdin`,
   * `stdout`, `stderr`, `output`, `ref`, `unref`), typed as the
   * {@link SupervisedChild} that both are; stdio defaults are
   * Deno's (inherit), and piped streams are the caller's to read or cancel.
   *
   * Outside Windows the child gets a session and process group of its own
   * (`detached: true`), which `close()` signals as a whole; pass
   * `detached: false` to keep it in this process's group (then only the
   * /proc sweep, on Linux, finds its descendants). A child in a session of
   * its own no longer gets the terminal's Ctrl-C: close the supervisor on
   * `SIGINT` (`Deno.addSignalListener`) to stop it then.
   */
  spawn(
    command: string | URL,
    args: readonly string[] = [],
    options: SupervisedSpawnOptions = {},
  ): SupervisedChild {
    if (this.#closing !== undefined) {
      throw new Error(
        `ProcessSupervisor is closed: cannot spawn ${JSON.stringify(String(command))}`,
      );
    }
    if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
      typeError("args", "an array of strings", args);
    }
    objectValue("options", options);
    if ("args" in options) {
      throw new TypeError(
        "options.args is not allowed: pass the arguments as spawn's second argument",
      );
    }
    // Its own session and process group, unless the caller said otherwise.
    const host = this.#host;
    const grouped = groupsSupported(host) && options.detached !== false;
    let child: SupervisedChild;
    try {
      child = host.spawn(command, [...args], {
        ...options,
        ...(grouped ? { detached: true } : {}),
      });
    } catch (error) {
      // The runtime's refusal only: a file the system will not run (EACCES,
      // Deno's PermissionDenied) is the caller's to fix, and is thrown as is.
      if (host.isNotCapable(error)) {
        throw new SubprocessUnavailableError(
          `${UNAVAILABLE}; permission to run ${
            JSON.stringify(String(command))
          } was denied (${host.permissionHint})`,
          { cause: error },
        );
      }
      throw error;
    }
    this.#children.add(child);
    if (grouped) this.#sessions.add(child.pid);
    const onExit = () => {
      this.#children.delete(child);
      // Forget the group once it is empty: its id may then be reused.
      if (grouped && !groupExists(host, child.pid)) this.#sessions.delete(child.pid);
    };
    child.status.then(onExit, onExit);
    return child;
  }

  /**
   * Sends `signal` (default the `killSignal` option) to every child still
   * running: the tracked ones and, on Linux, every other living descendant
   * of this process found in /proc (processes whose parent, or an
   * ancestor's parent, is this process), deepest first so that grandchildren
   * are not left behind when their parent dies, and the living members of
   * the children's sessions (also of children that have exited) whose
   * parent is now some other process, such as PID 1. Resolves with the pids
   * signalled; it does not wait for them to exit (await a tracked child's
   * `status`, or {@link ProcessSupervisor.close}).
   *
   * Deno 2.9 lets a program read /proc only under `--allow-all`; without
   * it, `killOrphans` has a short-lived `cat` (started through `/bin/sh`)
   * print every `/proc/<pid>/stat`, which `--allow-run` permits.
   * Where neither is allowed it throws a {@link SubprocessUnavailableError}.
   */
  async killOrphans(signal: SupervisedSignal = this.#killSignal): Promise<number[]> {
    const tracked = new Map<number, SupervisedChild>();
    for (const child of this.#children) tracked.set(child.pid, child);
    const host = this.#host;
    const scan = host.os === "linux";
    let found: ProcStat[] = [];
    if (scan) {
      const table = await processTable(host);
      this.#pruneSessions(table);
      found = descendantsOf(host.pid, table);
      // Members of the children's sessions re-parented away from this process.
      const listed = new Set(found.map((stat) => stat.pid));
      listed.add(host.pid);
      const strays = treeOf(listed, this.#sessions, table).filter((s) => !listed.has(s.pid));
      found = [...strays, ...found];
    }
    const killed: number[] = [];
    for (const stat of found) {
      const child = tracked.get(stat.pid);
      if (child !== undefined) {
        tracked.delete(stat.pid);
        if (killChild(host, child, signal)) killed.push(stat.pid);
        continue;
      }
      try {
        host.kill(stat.pid, signal);
        killed.push(stat.pid);
      } catch (error) {
        if (host.isPermissionError(error)) throw error;
        // Exited in the meantime.
      }
    }
    // Without /proc, signal the tracked children directly. With it, a
    // tracked child the scan did not find has exited already.
    if (!scan) {
      for (const child of tracked.values()) {
        if (killChild(host, child, signal)) killed.push(child.pid);
      }
    }
    return killed;
  }

  /**
   * Stops accepting new children, sends `killSignal` to every tracked child
   * still running and to everything they started, and resolves once all of
   * it has exited; whatever is still running after `killGraceMs` gets
   * `SIGKILL`. Calling it again returns the same promise.
   *
   * On Linux it first reads the process table, so the order is: collect
   * each child's tree (descendants through parent ids, and the members of
   * its session wherever their parent now is), signal each child's process
   * group, then every collected process outside those groups. After the
   * grace period it reads the table again and sends `SIGKILL` to all of
   * it. Without /proc it signals the process groups only.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  /** Same as {@link ProcessSupervisor.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    const children = [...this.#children];
    if (children.length === 0 && this.#sessions.size === 0) return;
    // Collect the whole tree before anything dies: a child's descendants
    // are re-parented (to PID 1) once it exits, out of reach of its pid.
    const targets = await this.#targets(children);
    this.#signal(children, targets, this.#killSignal, false);
    if (!(await this.#waitForExit(children, targets))) {
      // Whatever was started during the grace period is found too.
      const late = await this.#targets(children.filter((c) => this.#children.has(c)));
      for (const [pid, stat] of late.pids) targets.pids.set(pid, stat);
      for (const group of late.groups) targets.groups.add(group);
      this.#signal(children, targets, "SIGKILL", true);
    }
    await Promise.all(children.map((child) => child.status));
  }

  /**
   * The process groups of the children's sessions and, on Linux, every
   * living process in the children's trees found in /proc: descendants
   * followed through parent ids, members of the sessions wherever their
   * parent is now, and a child that left its own group. Without /proc (or
   * permission to read it), the groups alone.
   */
  async #targets(children: readonly SupervisedChild[]): Promise<Targets> {
    const targets: Targets = { pids: new Map(), groups: new Set(this.#sessions) };
    if (this.#host.os !== "linux") return targets;
    let table: ProcStat[];
    try {
      table = await processTable(this.#host);
    } catch (error) {
      if (error instanceof SubprocessUnavailableError) return targets;
      throw error;
    }
    this.#pruneSessions(table);
    targets.groups.clear();
    for (const group of this.#sessions) targets.groups.add(group);
    const roots = children.map((child) => child.pid);
    for (const stat of treeOf(roots, this.#sessions, table)) targets.pids.set(stat.pid, stat);
    for (const stat of table) {
      if (roots.includes(stat.pid) && !exited(stat) && !this.#sessions.has(stat.pgrp)) {
        targets.pids.set(stat.pid, stat);
      }
    }
    return targets;
  }

  /** Forgets the sessions /proc shows no living member of. */
  #pruneSessions(table: readonly ProcStat[]): void {
    const alive = new Set<number>();
    for (const stat of table) {
      if (exited(stat)) continue;
      alive.add(stat.session);
      alive.add(stat.pgrp);
    }
    for (const session of this.#sessions) {
      if (!alive.has(session)) this.#sessions.delete(session);
    }
  }

  /**
   * Sends `signal` to the groups, then to the tracked children and the
   * processes outside those groups (all of them when `everyone`, as a
   * process may have changed group since it was found).
   */
  #signal(
    children: readonly SupervisedChild[],
    targets: Targets,
    signal: SupervisedSignal,
    everyone: boolean,
  ): void {
    for (const group of targets.groups) {
      if (!signalPid(this.#host, -group, signal)) targets.groups.delete(group);
    }
    for (const child of children) {
      if (!this.#children.has(child)) continue;
      if (everyone || !targets.groups.has(child.pid) || targets.pids.has(child.pid)) {
        killChild(this.#host, child, signal);
      }
    }
    const tracked = new Set(children.map((child) => child.pid));
    for (const [pid, stat] of targets.pids) {
      if (tracked.has(pid)) continue;
      if (!everyone && targets.groups.has(stat.pgrp)) continue;
      if (!signalPid(this.#host, pid, signal)) targets.pids.delete(pid);
    }
  }

  /**
   * Resolves true once the children have exited and every target is gone,
   * false when `killGraceMs` passes first. A zombie counts as gone: on
   * Linux, once only descendants seem left, /proc tells them apart (an
   * init that is slow to reap them would otherwise stretch the wait).
   */
  async #waitForExit(children: readonly SupervisedChild[], targets: Targets): Promise<boolean> {
    const tracked = new Set(children.map((child) => child.pid));
    const host = this.#host;
    let scan = host.os === "linux";
    const allGone = async () => {
      for (const pid of targets.pids.keys()) {
        if (!tracked.has(pid) && !exists(host, pid)) targets.pids.delete(pid);
      }
      for (const group of targets.groups) {
        if (!exists(host, -group)) targets.groups.delete(group);
      }
      if (children.some((child) => this.#children.has(child))) return false;
      for (const pid of tracked) targets.pids.delete(pid);
      if (targets.pids.size === 0 && targets.groups.size === 0) return true;
      if (!scan) return false;
      let table: ProcStat[];
      try {
        table = await processTable(host);
      } catch (error) {
        if (!(error instanceof SubprocessUnavailableError)) throw error;
        scan = false;
        return false;
      }
      const living = new Set<number>();
      for (const stat of table) {
        if (exited(stat)) continue;
        living.add(stat.pid);
        living.add(-stat.pgrp);
      }
      for (const pid of targets.pids.keys()) if (!living.has(pid)) targets.pids.delete(pid);
      for (const group of targets.groups) if (!living.has(-group)) targets.groups.delete(group);
      return targets.pids.size === 0 && targets.groups.size === 0;
    };
    let graceOver = false;
    const graceEnd = new AbortController();
    const timer = this.#clock.setTimer(() => {
      graceOver = true;
      graceEnd.abort();
    }, this.#killGraceMs);
    try {
      while (!(await allGone())) {
        if (graceOver) return false;
        // Processes exit in real time, whatever clock the supervisor was given.
        await systemClock.sleep(EXIT_POLL_MS, graceEnd.signal).catch(() => {});
      }
      return true;
    } finally {
      this.#clock.clearTimer(timer);
    }
  }
}
