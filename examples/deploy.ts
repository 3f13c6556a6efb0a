/**
 * A Deno Deploy style service: a `Deno.serve` handler that proxies an
 * upstream through a policy (retries, circuit breaker, deadline), taking its
 * deadline from the incoming request (`bulwark-deadline` or `grpc-timeout`)
 * and passing what is left of it downstream.
 *
 * Locally: UPSTREAM_URL=https://example.com deno run --allow-net --allow-env examples/deploy.ts
 * On Deno Deploy: set UPSTREAM_URL; telemetry goes to Deploy's built-in observability.
 */
import { createClient, deadlineFromRequest, type ResilientClient } from "../mod.ts";

/** Builds the proxy handler for an upstream base URL. */
export function createProxy(upstreamUrl: string): {
  handler: (req: Request) => Promise<Response>;
  client: ResilientClient;
} {
  const client = createClient({
    name: "upstream",
    baseUrl: upstreamUrl,
    timeoutMs: 2_000,
    pool: { maxConnections: 32, connectionTimeoutMs: 1_000 },
    policy: {
      deadlineMs: 5_000, // the most any request may take, whatever the caller allows
      retry: { maxAttempts: 3, budgets: { transient: 2, rate_limit: 1 } },
      circuit: { kind: "count", size: 20, threshold: 0.5, minCalls: 10, breakMs: 5_000 },
    },
  });
  async function handler(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const deadline = deadlineFromRequest(req);
    try {
      // Forward the end-to-end headers that matter here; Idempotency-Key lets
      // the client retry a proxied POST safely.
      const headers = new Headers();
      for (const name of ["accept", "content-type", "idempotency-key", "authorization"]) {
        const value = req.headers.get(name);
        if (value !== null) headers.set(name, value);
      }
      const upstream = await client.fetch(url.pathname + url.search, {
        method: req.method,
        headers,
        body: req.body,
        deadline,
        signal: req.signal,
      });
      // Stream the upstream's answer (success or its last failing response) back.
      return new Response(upstream.body, {
        status: upstream.status,
        headers: { "content-type": upstream.headers.get("content-type") ?? "text/plain" },
      });
    } catch (error) {
      const name = (error as Error).name;
      const status = name === "DeadlineExceededError"
        ? 504
        : name === "CircuitOpenError"
        ? 503
        : 502;
      return new Response(`upstream unavailable: ${name}\n`, { status });
    }
  }
  return { handler, client };
}

if (import.meta.main) {
  const upstream = Deno.env.get("UPSTREAM_URL");
  if (upstream === undefined) {
    console.error("set UPSTREAM_URL to the service to proxy");
    Deno.exit(1);
  }
  Deno.serve(createProxy(upstream).handler);
}
