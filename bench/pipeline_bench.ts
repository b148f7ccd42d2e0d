/**
 * The worker's steps for one 1000-event page, each on its own: parsing the body, validating
 * and reducing it, and writing it to SQLite. Their sum against the store's write alone is the
 * room between the worker and the store limit.
 */
import { parsePageBody } from "../src/api/wire.ts";
import { projectPage } from "../src/domain/project.ts";
import { feedShape, pageEvents, pageText } from "../src/simulator/model.ts";
import { SqliteStore } from "../src/store/sqlite.ts";

const shape = feedShape({ seed: 1, events: 1_000_000, parcels: 100_000 });
const body = pageText(pageEvents(shape, 500_001, 1000, 1_000_000));
const raw = parsePageBody(body);
const events = raw.ok ? raw.events : [];

Deno.bench("page of 1000: JSON.parse of the body", () => {
  parsePageBody(body);
});

Deno.bench("page of 1000: validate and reduce (projectPage)", () => {
  projectPage(0, events);
});

const dir = Deno.makeTempDirSync({ prefix: "scan-worker-bench-" });
// `deno bench` has no hook after the last bench: the database's folder goes when the process ends.
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const store = new SqliteStore(`${dir}/bench.db`);
await store.migrate();
let checkpoint = 0;
let from = 1;

Deno.bench("page of 1000: SQLite applyPage (one transaction)", async (b) => {
  const result = projectPage(
    checkpoint,
    pageEvents(shape, from, 1000, 1_000_000).map((e) => e.raw),
  );
  b.start();
  await store.applyPage(result);
  b.end();
  checkpoint = result.to;
  from = checkpoint + 1;
});
