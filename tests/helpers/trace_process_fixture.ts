/**
 * A program for the telemetry tests: one batch applied under `traceProcess`, as a group member
 * applies its batches, with three messages from one upstream page (and one without a
 * traceparent). Run with OTEL_DENO=true towards a receiver.
 *
 * @module
 */
import { traceProcess } from "../../src/telemetry/mod.ts";

const PAGE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
await traceProcess("SCAN_EVENTS", [PAGE, PAGE, PAGE, null], () => Promise.resolve());
