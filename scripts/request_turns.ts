// deno-lint-ignore-file no-console -- this script prints its report for people
/**
 * How many event-loop turns get a request onto the wire before a synchronous write
 * (`REQUEST_TURNS` in src/worker/prefetch.ts). A server on its own thread notes when each
 * request arrives; the client starts a request, turns the event loop N times, then blocks its
 * thread for `--write-ms` (as a synchronous SQLite write does), and counts the requests that
 * arrived before that write ended. Run: `deno run --allow-net scripts/request_turns.ts`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { turnEventLoop } from "../src/worker/prefetch.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    tries: { type: "string", default: "20" },
    "write-ms": { type: "string", default: "30" },
    "max-turns": { type: "string", default: "4" },
  },
});
const tries = Number(values.tries);
const writeMs = Number(values["write-ms"]);

const SERVER = `
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: ({ port }) => postMessage(port) },
  () => new Response(String(Date.now())));
self.onmessage = async () => { await server.shutdown(); postMessage("stopped"); };
`;
const worker = new Worker(
  `data:application/javascript,${encodeURIComponent(SERVER)}`,
  { type: "module" },
);
const port = await new Promise<number>((resolve) => {
  worker.onmessage = (event) => resolve(event.data as number);
});
const url = `http://127.0.0.1:${port}/`;
await (await fetch(url)).text(); // a warm keep-alive connection, as the worker has

/** Block this thread for `ms`, as a synchronous write does. */
function blockFor(ms: number): number {
  const started = Date.now();
  while (Date.now() - started < ms) { /* the write */ }
  return Date.now();
}

console.log(`turns  sent before a ${writeMs} ms synchronous write (of ${tries})`);
for (let turns = 0; turns <= Number(values["max-turns"]); turns++) {
  let early = 0;
  for (let i = 0; i < tries; i++) {
    const response = fetch(url);
    await turnEventLoop(turns);
    const writeEnded = blockFor(writeMs);
    const arrived = Number(await (await response).text());
    if (arrived < writeEnded) early++;
  }
  console.log(`${String(turns).padStart(5)}  ${early}`);
}
await new Promise<void>((resolve) => {
  worker.onmessage = () => resolve();
  worker.postMessage("stop");
});
worker.terminate();
