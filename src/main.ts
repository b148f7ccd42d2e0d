/**
 * The `scan-worker` executable: hands its arguments and its process to the command line
 * (`src/cli/`), and exits with the code it returns.
 *
 * @module
 */

import { main } from "./cli/main.ts";
import { processIo } from "./cli/io.ts";

/** The program's version, from deno.json. */
export { VERSION } from "./version.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args, processIo()));
}
