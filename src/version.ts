/**
 * The program's version line: the version from deno.json and the git commit it was built from.
 *
 * @module
 */

import denoConfig from "../deno.json" with { type: "json" };
import { BUILD_COMMIT } from "./build_info.ts";

/** The program's version, from deno.json. */
export const VERSION: string = denoConfig.version;

/**
 * The commit of the checkout this source runs from (`.git` beside `src/`), or null when there is
 * none or it cannot be read (a compiled executable carries {@link BUILD_COMMIT} instead).
 */
export function checkoutCommit(root = new URL("../", import.meta.url)): string | null {
  try {
    const git = new URL(".git/", root);
    const head = Deno.readTextFileSync(new URL("HEAD", git)).trim();
    if (!head.startsWith("ref: ")) return /^[0-9a-f]{40}$/.test(head) ? head : null;
    const ref = head.slice(5);
    try {
      return Deno.readTextFileSync(new URL(ref, git)).trim();
    } catch {
      const packed = Deno.readTextFileSync(new URL("packed-refs", git));
      return packed.split("\n").find((line) => line.endsWith(` ${ref}`))?.split(" ")[0] ?? null;
    }
  } catch {
    return null;
  }
}

/**
 * The `--version` line.
 * @example
 * ```ts
 * import { match } from "node:assert/strict";
 * // e.g. "scan-worker 0.1.0 (commit 1a2b3c4d5e6f)", or "(commit unknown)" outside a checkout
 * match(versionLine(), /^scan-worker \d+\.\d+\.\d+ \(commit ([0-9a-f]{12}|unknown)\)$/);
 * ```
 */
export function versionLine(): string {
  const commit = BUILD_COMMIT ?? checkoutCommit();
  return `scan-worker ${VERSION} (${
    commit === null ? "commit unknown" : `commit ${commit.slice(0, 12)}`
  })`;
}
