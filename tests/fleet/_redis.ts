// Starts a real redis-server on a free 127.0.0.1 port for one test, and stops it.

/** A free loopback port (bound, then released). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A running redis-server; `stop()` kills it (SIGKILL) and waits for its exit. */
export interface RedisServer {
  url: string;
  port: number;
  /** The server's process id (to freeze it with SIGSTOP). */
  pid: number;
  stop(): Promise<void>;
}

/** Starts `redis-server --port <free> --save "" --appendonly no` and waits until it accepts connections. */
export async function startRedis(port = freePort()): Promise<RedisServer> {
  const child = new Deno.Command("redis-server", {
    args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  for (let i = 0; i < 200; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  let stopped = false;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill("SIGKILL");
      await child.status;
    },
  };
}

/** Runs one redis command through redis-cli and returns its output. */
export async function redisCli(port: number, ...command: string[]): Promise<string> {
  const out = await new Deno.Command("redis-cli", {
    args: ["-p", String(port), ...command],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout);
}
