/**
 * The pragmas the SQLite store opens its file with (docs/stores.md): WAL, synchronous NORMAL,
 * the busy timeout and an 8 MiB page cache, and none of the writer's on a read-only open.
 */
import { assertEquals } from "../helpers/assert.ts";
import { SqliteFile } from "../../src/store/sqlite_file.ts";

/** The value of `PRAGMA name` on `file`. */
function pragma(file: SqliteFile, name: string): unknown {
  const row = file.db.prepare(`PRAGMA ${name}`).get() as Record<string, unknown> | undefined;
  return row === undefined ? undefined : Object.values(row)[0];
}

Deno.test("SQLite file: a writer opens in WAL, synchronous NORMAL, an 8 MiB page cache", () => {
  const dir = Deno.makeTempDirSync({ prefix: "scan-worker-sqlite-file-" });
  try {
    const file = new SqliteFile(`${dir}/x.db`, false);
    try {
      assertEquals(pragma(file, "journal_mode"), "wal");
      assertEquals(pragma(file, "synchronous"), 1);
      assertEquals(pragma(file, "busy_timeout"), 5000);
      assertEquals(pragma(file, "cache_size"), -8192);
    } finally {
      file.close();
    }
    const reader = new SqliteFile(`${dir}/x.db`, true);
    try {
      assertEquals(pragma(reader, "cache_size"), -2000);
      assertEquals(pragma(reader, "busy_timeout"), 5000);
    } finally {
      reader.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
