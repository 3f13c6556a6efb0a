/**
 * `deno task demo`: a local upstream on 127.0.0.1 that fails in scripted ways
 * (503s, a 429 with Retry-After, a hang, a 404, an outage), called through a
 * policy that prints every retry with its class and delay, and each outcome.
 *
 * Run: deno run --allow-net=127.0.0.1 examples/retry_demo.ts
 */
import {
  DeadlineExceededError,
  decorrelatedJitter,
  policy,
  type ResilienceEvent,
  RetryExhaustedError,
  seededRandom,
} from "../mod.ts";

/** Scripted upstream: each path answers its n-th request as listed, then 200. */
const scripts: Record<string, Array<"503" | "429" | "409" | "hang" | "404">> = {
  "/flaky": ["503", "503"],
  "/limited": ["429"],
  "/slow": ["hang"],
  "/missing": ["404", "404", "404"],
  "/busy": ["409", "409", "409"],
  "/down": Array(50).fill("503"),
};
const seen = new Map<string, number>();

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
  const path = new URL(req.url).pathname;
  const n = seen.get(path) ?? 0;
  seen.set(path, n + 1);
  switch (scripts[path]?.[n]) {
    case "503":
      return new Response("unavailable", { status: 503 });
    case "429":
      return new Response("slow down", { status: 429, headers: { "retry-after": "1" } });
    case "409":
      return new Response("conflict", { status: 409 });
    case "404":
      return new Response("no such thing", { status: 404 });
    case "hang":
      // Answer long after the client's 400 ms attempt timeout gave up on it.
      await new Promise((resolve) => setTimeout(resolve, 700));
      return new Response("too late");
    default:
      return new Response(`ok ${path}`);
  }
});
const base = `http://127.0.0.1:${server.addr.port}`;

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(2)}s`.padStart(6);

function describe(event: ResilienceEvent): string | undefined {
  switch (event.type) {
    case "retry": {
      const what = event.error instanceof Response
        ? `HTTP ${event.error.status}`
        : (event.error as Error).name;
      return `retry after attempt ${event.attempt}: ${event.errorClass} (${what}), waiting ${
        Math.round(event.delayMs)
      } ms`;
    }
    case "attempt_timeout":
      return `attempt ${event.attempt} timed out after ${event.timeoutMs} ms`;
    case "permanent_fail":
      return `attempt ${event.attempt} failed permanently: not retried`;
    case "deadline_exceeded":
      return `deadline: ${
        event.delayMs === undefined
          ? "reached"
          : `the next retry (in ${Math.round(event.delayMs)} ms) would end past it`
      }, giving up`;
    default:
      return undefined;
  }
}

const upstream = policy("upstream", {
  deadlineMs: 2_500,
  attemptTimeoutMs: 400,
  telemetry: false,
  random: seededRandom(2026),
  retry: {
    maxAttempts: 20,
    budgets: { transient: 15, rate_limit: 2, concurrency: 1 },
    backoff: decorrelatedJitter({ baseMs: 50, maxMs: 800 }),
  },
  onEvent(event) {
    const line = describe(event);
    if (line !== undefined) console.log(`${elapsed()}    ${line}`);
  },
});

async function call(path: string, about: string): Promise<void> {
  console.log(`${elapsed()}  GET ${path}  (${about})`);
  try {
    const res = await upstream.execute(async ({ signal }) => {
      const response = await fetch(base + path, { signal });
      // Free the connection of a response that will be retried or returned as a failure.
      if (!response.ok) await response.body?.cancel();
      return response;
    });
    const text = res.ok ? await res.text() : `HTTP ${res.status}`;
    console.log(`${elapsed()}  => ${res.ok ? "success" : "returned"}: ${text}\n`);
  } catch (error) {
    if (error instanceof RetryExhaustedError) {
      console.log(`${elapsed()}  => gave up (${error.reason}) after ${error.attempts} attempts\n`);
    } else if (error instanceof DeadlineExceededError) {
      console.log(`${elapsed()}  => deadline exceeded after ${error.attempts} attempts\n`);
    } else {
      console.log(`${elapsed()}  => failed: ${error}\n`);
    }
  }
}

try {
  console.log(`upstream on ${base}; policy: deadline 2.5 s, attempt timeout 400 ms\n`);
  await call("/flaky", "two 503s, then 200");
  await call("/limited", "429 with Retry-After: 1");
  await call("/slow", "first attempt hangs");
  await call("/missing", "404 is permanent");
  await call("/busy", "409s: the concurrency budget allows one retry");
  await call("/down", "503 until the deadline");
} finally {
  await server.shutdown();
}
console.log(`done in ${elapsed().trim()}`);
