/**
 * A child process started with `node:child_process`, shaped like the
 * `Deno.ChildProcess` that `ProcessSupervisor.spawn` returns on Deno: `pid`,
 * `status` (`{ success, code, signal }`), `kill(signal)` (throws once the
 * child has exited), `stdin`/`stdout`/`stderr` as web streams when
 * `"piped"`, `output()`, `ref()`/`unref()` and `await using`. Internal.
 *
 * @module
 */

import type {
  SupervisedChild,
  SupervisedOutput,
  SupervisedReadableStream,
  SupervisedSignal,
  SupervisedSpawnOptions,
  SupervisedStatus,
} from "./supervised_child.ts";
import { findOnPath, type NodeFsSync, spawnFailure } from "./node_command.ts";

/** The parts of a Node stream used here (a pipe to the child is a socket, with `ref`/`unref`). */
interface NodeStream {
  [Symbol.asyncIterator](): AsyncIterator<Uint8Array>;
  ref?(): unknown;
  unref?(): unknown;
}

/** The parts of Node's `ChildProcess` used here. */
interface NodeChildProcess {
  readonly pid?: number;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  readonly stdin: NodeStream | null;
  readonly stdout: NodeStream | null;
  readonly stderr: NodeStream | null;
  kill(signal?: string | number): boolean;
  on(event: "error", listener: (error: unknown) => void): unknown;
  once(event: "exit", listener: (code: number | null, signal: string | null) => void): unknown;
  ref(): void;
  unref(): void;
}

/** The parts of `node:child_process` used here. */
export interface NodeChildProcessModule {
  spawn(command: string, args: string[], options: Record<string, unknown>): NodeChildProcess;
}

/** Node's modules and environment a child needs. */
export interface NodeModules {
  readonly childProcess: NodeChildProcessModule;
  readonly stream: {
    Readable: { toWeb(stream: NodeStream): ReadableStream<Uint8Array<ArrayBuffer>> };
    Writable: { toWeb(stream: NodeStream): WritableStream<Uint8Array> };
  };
  /** Signal numbers by name (`os.constants.signals`). */
  readonly signals: Record<string, number>;
  readonly env: Record<string, string | undefined>;
  /** `node:fs`, to find a command and say why one did not start (POSIX only). */
  readonly fs?: NodeFsSync;
  /** This process's working directory (`process.cwd`). */
  cwd(): string;
}

/** Deno's stdio names to Node's. */
const STDIO = { piped: "pipe", inherit: "inherit", null: "ignore" } as const;

/** A Node child process with the members of `Deno.ChildProcess`. */
export class NodeChild implements SupervisedChild {
  readonly pid: number;
  readonly status: Promise<SupervisedStatus>;
  readonly #child: NodeChildProcess;
  readonly #modules: NodeModules;
  /** The web streams made so far, one per stdio stream (as Deno gives one). */
  readonly #web = new Map<string, ReadableStream | WritableStream>();

  private constructor(child: NodeChildProcess, pid: number, modules: NodeModules) {
    this.#child = child;
    this.pid = pid;
    this.#modules = modules;
    this.status = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        const number = signal === null ? undefined : modules.signals[signal];
        resolve({
          success: code === 0,
          // As Deno reports it: 128 + the signal's number for a child a signal ended.
          code: code ?? (number === undefined ? 1 : 128 + number),
          signal: signal as SupervisedSignal | null,
        });
      });
    });
  }

  /**
   * Starts `command` with Deno's defaults (stdio inherited, environment
   * added to this process's unless `clearEnv`); throws when it did not start.
   */
  static spawn(
    modules: NodeModules,
    command: string | URL,
    args: string[],
    options: SupervisedSpawnOptions,
  ): NodeChild {
    let file = command instanceof URL ? decodeURIComponent(command.pathname) : command;
    const cwd = options.cwd instanceof URL ? decodeURIComponent(options.cwd.pathname) : options.cwd;
    const env = options.clearEnv ? { ...options.env } : { ...modules.env, ...options.env };
    const fs = modules.fs;
    // As Deno does: a bare name is found on this process's PATH when the child's env has none.
    if (fs !== undefined && env.PATH === undefined && !file.includes("/")) {
      file = findOnPath(fs, file, modules.env.PATH, modules.cwd()) ?? file;
    }
    const child = modules.childProcess.spawn(file, args, {
      cwd,
      env,
      uid: options.uid,
      gid: options.gid,
      signal: options.signal,
      detached: options.detached ?? false,
      windowsVerbatimArguments: options.windowsRawArguments,
      stdio: [
        STDIO[options.stdin ?? "inherit"],
        STDIO[options.stdout ?? "inherit"],
        STDIO[options.stderr ?? "inherit"],
      ],
    });
    // Node reports a failed start (on the next tick) and an abort through
    // `signal` as an "error" event; unheard, it would end this process.
    // The status says how the child ended.
    child.on("error", () => {});
    if (child.pid === undefined) {
      if (fs === undefined) throw new Error(`Failed to spawn '${file}'`);
      throw spawnFailure(fs, file, cwd, env.PATH ?? modules.env.PATH, modules.cwd());
    }
    return new NodeChild(child, child.pid, modules);
  }

  /** The child's stdin, when spawned with `stdin: "piped"`. */
  get stdin(): WritableStream<Uint8Array> {
    return this.#stream("stdin", (s) => this.#modules.stream.Writable.toWeb(s));
  }

  /** The child's stdout, when spawned with `stdout: "piped"`. */
  get stdout(): SupervisedReadableStream {
    return this.#stream("stdout", (s) => readable(this.#modules.stream.Readable.toWeb(s)));
  }

  /** The child's stderr, when spawned with `stderr: "piped"`. */
  get stderr(): SupervisedReadableStream {
    return this.#stream("stderr", (s) => readable(this.#modules.stream.Readable.toWeb(s)));
  }

  /**
   * Waits for the child to exit; its piped stdout and stderr, whole. As on
   * Deno, reading `stdout` or `stderr` of the result throws a `TypeError`
   * when that stream was not piped.
   */
  async output(): Promise<SupervisedOutput> {
    const [stdout, stderr, status] = await Promise.all([
      collect(this.#child.stdout),
      collect(this.#child.stderr),
      this.status,
    ]);
    return {
      ...status,
      get stdout() {
        if (stdout === null) throw notPiped("stdout");
        return stdout;
      },
      get stderr() {
        if (stderr === null) throw notPiped("stderr");
        return stderr;
      },
    };
  }

  /** Sends `signal` (default `"SIGTERM"`); throws once the child has exited, as Deno does. */
  kill(signal: SupervisedSignal | number = "SIGTERM"): void {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) {
      throw new TypeError("Child process has already terminated");
    }
    this.#child.kill(signal);
  }

  /** Keeps this process alive until the child exits (the default). */
  ref(): void {
    this.#child.ref();
    for (const stream of this.#pipes()) stream.ref?.();
  }

  /** Lets this process exit while the child runs (its pipes too, as on Deno). */
  unref(): void {
    this.#child.unref();
    for (const stream of this.#pipes()) stream.unref?.();
  }

  /** The child's piped stdio streams. */
  #pipes(): NodeStream[] {
    const { stdin, stdout, stderr } = this.#child;
    return [stdin, stdout, stderr].filter((stream) => stream !== null);
  }

  /** Kills the child unless it has exited, and waits for its exit. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.kill();
    } catch {
      // Exited already.
    }
    await this.status;
  }

  #stream<T extends ReadableStream | WritableStream>(
    name: "stdin" | "stdout" | "stderr",
    toWeb: (stream: NodeStream) => T,
  ): T {
    let web = this.#web.get(name);
    if (web === undefined) {
      const stream = this.#child[name];
      if (stream === null) throw notPiped(name);
      web = toWeb(stream);
      this.#web.set(name, web);
    }
    return web as T;
  }
}

/**
 * `stream` with the reading methods of Deno's `SubprocessReadableStream`
 * (`text()`, `bytes()`, `json()`, `arrayBuffer()`), each reading it to its end.
 */
function readable(stream: ReadableStream<Uint8Array<ArrayBuffer>>): SupervisedReadableStream {
  const bytes = async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    return join(chunks);
  };
  const text = async () => new TextDecoder().decode(await bytes());
  return Object.assign(stream, {
    bytes,
    text,
    arrayBuffer: async () => (await bytes()).buffer,
    json: async (): Promise<unknown> => JSON.parse(await text()),
  });
}

/** Deno's error for a stdio stream that was not piped. */
function notPiped(name: string): TypeError {
  return new TypeError(`Cannot get '${name}': '${name}' is not piped`);
}

/** Every chunk of `stream`, joined; `null` when it was not piped. */
async function collect(stream: NodeStream | null): Promise<Uint8Array<ArrayBuffer> | null> {
  if (stream === null) return null;
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return join(chunks);
}

/** `chunks` in one array. */
function join(chunks: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
