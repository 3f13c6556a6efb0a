// A real OTLP/HTTP JSON receiver on 127.0.0.1 for end-to-end telemetry tests.

/** An OTLP attribute as sent in OTLP/JSON. */
export interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

/** A span as sent in OTLP/JSON. */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: OtlpAttribute[];
  events?: Array<{ name: string; timeUnixNano: string; attributes?: OtlpAttribute[] }>;
  links?: Array<{ traceId: string; spanId: string }>;
  status?: { code?: number };
}

/** Reads an OTLP attribute value as a plain JS value. */
export function attr(attributes: OtlpAttribute[] | undefined, key: string): unknown {
  const found = attributes?.find((a) => a.key === key);
  if (found === undefined) return undefined;
  const v = found.value;
  if ("stringValue" in v) return v.stringValue;
  if ("intValue" in v) return Number(v.intValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("boolValue" in v) return v.boolValue;
  return v;
}

/** Starts a receiver; `close()` shuts it down. */
export function startOtlpReceiver() {
  const spans: OtlpSpan[] = [];
  const metricNames = new Set<string>();
  // deno-lint-ignore no-explicit-any
  const metrics: any[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    try {
      const json = JSON.parse(body);
      if (path === "/v1/traces") {
        for (const rs of json.resourceSpans ?? []) {
          for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
        }
      } else if (path === "/v1/metrics") {
        for (const rm of json.resourceMetrics ?? []) {
          for (const sm of rm.scopeMetrics ?? []) {
            for (const m of sm.metrics ?? []) {
              metricNames.add(m.name);
              metrics.push(m);
            }
          }
        }
      }
    } catch {
      // protobuf or garbage: ignored (the tests ask for http/json)
    }
    return new Response("{}", { headers: { "content-type": "application/json" } });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans,
    metricNames,
    metrics,
    close: () => server.shutdown(),
  };
}
