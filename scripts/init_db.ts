/**
 * `deno task init-db`: write `init-db.sql`, the complete SQL Server schema for DBAs, from the
 * embedded migrations.
 *
 * @module
 */

import { renderInitDb } from "../src/store/mssql.ts";

const target = new URL("../init-db.sql", import.meta.url);
await Deno.writeTextFile(target, renderInitDb());
await Deno.stdout.write(new TextEncoder().encode(`wrote ${target.pathname}\n`));
