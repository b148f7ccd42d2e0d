/**
 * An OTLP/HTTP receiver for tests: what a program with `OTEL_DENO=true`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL=http/json` and `OTEL_EXPORTER_OTLP_ENDPOINT` at it exports, its
 * spans and log records flattened with their service. It can also answer 503 to everything, or
 * take each request and never answer (a collector that hangs).
 *
 * @module
 */

/** An OTLP attribute value, as the JSON encoding gives it. */
interface AnyValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}

/** A received span, with its service and its attributes as plain values. */
export interface ReceivedSpan {
  readonly service: string;
  readonly scope: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Record<string, string | number | boolean>;
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
}

/** A received log record. */
export interface ReceivedLog {
  readonly service: string;
  readonly severityText: string;
  readonly body: string;
  readonly traceId: string;
  readonly spanId: string;
}

/** How the receiver answers. */
export type ReceiverMode = "ok" | "503" | "hang";

/** A running receiver. */
export interface OtlpReceiver {
  /** The value for OTEL_EXPORTER_OTLP_ENDPOINT. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  readonly logs: ReceivedLog[];
  /** Export requests received (any path). */
  readonly requests: () => number;
  stop(): Promise<void>;
}

type Attribute = { key: string; value: AnyValue };

function valueOf(value: AnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  return value.boolValue ?? "";
}

function attributesOf(list: readonly Attribute[] | undefined) {
  return Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]));
}

/** Start a receiver on a free port of 127.0.0.1. */
export function startOtlpReceiver(mode: ReceiverMode = "ok"): OtlpReceiver {
  const spans: ReceivedSpan[] = [];
  const logs: ReceivedLog[] = [];
  let requests = 0;
  const hanging = new Set<() => void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    requests++;
    const text = await request.text();
    if (mode === "503") return new Response("unavailable", { status: 503 });
    if (mode === "hang") {
      // never answer: the request is held until stop()
      await new Promise<void>((resolve) => hanging.add(resolve));
      return new Response("late", { status: 503 });
    }
    const path = new URL(request.url).pathname;
    const body = JSON.parse(text);
    if (path === "/v1/traces") {
      for (const resource of body.resourceSpans ?? []) {
        const service = String(attributesOf(resource.resource?.attributes)["service.name"]);
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              service,
              scope: scope.scope?.name ?? "",
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? "",
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
              links: (span.links ?? []).map((l: { traceId: string; spanId: string }) => ({
                traceId: l.traceId,
                spanId: l.spanId,
              })),
            });
          }
        }
      }
    } else if (path === "/v1/logs") {
      for (const resource of body.resourceLogs ?? []) {
        const service = String(attributesOf(resource.resource?.attributes)["service.name"]);
        for (const scope of resource.scopeLogs ?? []) {
          for (const record of scope.logRecords ?? []) {
            logs.push({
              service,
              severityText: record.severityText ?? "",
              body: String(valueOf(record.body ?? {})),
              traceId: record.traceId ?? "",
              spanId: record.spanId ?? "",
            });
          }
        }
      }
    }
    return Response.json({});
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    spans,
    logs,
    requests: () => requests,
    async stop() {
      for (const release of hanging) release();
      hanging.clear();
      await server.shutdown();
    },
  };
}
