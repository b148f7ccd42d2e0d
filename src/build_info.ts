/**
 * Facts fixed at build time. `deno task compile` writes the commit here for the executable it
 * builds, and puts this file back afterwards; in a checkout it stays null.
 *
 * @module
 */

/** The git commit the executable was built from, or null when not built by `deno task compile`. */
export const BUILD_COMMIT: string | null = null;
