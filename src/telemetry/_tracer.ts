/**
 * The program's tracer. Deno registers its own tracer provider with `npm:@opentelemetry/api`
 * when `OTEL_DENO=true`; otherwise every span is a no-op that costs next to nothing.
 *
 * @module
 */

import { trace, type Tracer } from "@opentelemetry/api";

/** The instrumentation scope of every span the program makes itself. */
export const SCOPE = "scan-worker";

/** The tracer (looked up each time: cheap, and a provider registered later is seen). */
export function tracer(): Tracer {
  return trace.getTracer(SCOPE);
}

/** Whether Deno's OpenTelemetry export is on: `OTEL_DENO=true` (the only "on" Deno accepts). */
export function telemetryOn(env: (name: string) => string | undefined = envOf): boolean {
  return env("OTEL_DENO") === "true";
}

/** An environment variable, or undefined (also without permission to read it). */
function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
