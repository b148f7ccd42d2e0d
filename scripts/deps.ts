// deno-lint-ignore-file no-console -- this script prints its report for people
/**
 * `deno task deps`: the module graph of `src/`, checked. Imports must point down the layers
 * below (a module may import its own folder, or a lower layer), no cycle may exist among the
 * modules, and a file whose name starts with `_` is private to its folder (others import the
 * folder's `mod.ts`). Prints each layer's modules with what they import (not with `--quiet`), then the
 * problems; exits 1 on any.
 *
 * The graph comes from `deno info --json`, so type-only and dynamic imports count too.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url);
const SRC = new URL("src/", ROOT).href;

/**
 * The layers, lowest first. A group is a folder of `src/` or one file at its top; a module may
 * import modules of its own group or of a lower layer.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["domain", "errors.ts", "retry.ts", "build_info.ts"],
  ["config"],
  ["config.ts", "version.ts"],
  ["log.ts"],
  ["source.ts"],
  ["api", "store", "simulator"],
  ["worker"],
  ["nats"],
  ["relay", "stream"],
  ["ops"],
  ["cli"],
  ["main.ts"],
];

/** The group of a module path relative to `src/`: its folder, or itself at the top. */
export function groupOf(path: string): string {
  return path.includes("/") ? path.slice(0, path.indexOf("/")) : path;
}

/** Whether a module is private to its folder: its file name starts with `_`. */
export function isPrivate(path: string): boolean {
  return path.includes("/") && path.slice(path.lastIndexOf("/") + 1).startsWith("_");
}

/** The layer of a group (its index in {@link LAYERS}), or -1 when it has none. */
export function layerOf(group: string): number {
  return LAYERS.findIndex((layer) => layer.includes(group));
}

/** A problem with the graph. */
export interface Problem {
  readonly kind: "upward" | "sideways" | "private" | "cycle" | "unlayered";
  readonly message: string;
}

/**
 * Check a module graph (paths relative to `src/` → the paths they import).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * assert.deepEqual(check(new Map([["store/a.ts", ["worker/b.ts"]], ["worker/b.ts", []]])), [
 *   {
 *     kind: "upward",
 *     message: `store/a.ts imports worker/b.ts (layer ${layerOf("worker")} above ${layerOf("store")})`,
 *   },
 * ]);
 * assert.deepEqual(check(new Map([["cli/a.ts", ["relay/_b.ts"]], ["relay/_b.ts", []]])), [
 *   { kind: "private", message: "cli/a.ts imports relay/_b.ts (private to relay/: import its mod.ts)" },
 * ]);
 * ```
 */
export function check(graph: ReadonlyMap<string, readonly string[]>): Problem[] {
  const problems: Problem[] = [];
  for (const [from, imports] of graph) {
    const fromGroup = groupOf(from);
    const fromLayer = layerOf(fromGroup);
    if (fromLayer < 0) {
      problems.push({ kind: "unlayered", message: `${from} is in no layer (scripts/deps.ts)` });
      continue;
    }
    for (const to of imports) {
      const toGroup = groupOf(to);
      if (toGroup === fromGroup) continue;
      if (isPrivate(to)) {
        problems.push({
          kind: "private",
          message: `${from} imports ${to} (private to ${toGroup}/: import its mod.ts)`,
        });
      }
      const toLayer = layerOf(toGroup);
      if (toLayer > fromLayer) {
        problems.push({
          kind: "upward",
          message: `${from} imports ${to} (layer ${toLayer} above ${fromLayer})`,
        });
      } else if (toLayer === fromLayer) {
        problems.push({
          kind: "sideways",
          message: `${from} imports ${to} (both in layer ${fromLayer}, different groups)`,
        });
      }
    }
  }
  for (const cycle of cycles(graph)) {
    problems.push({ kind: "cycle", message: `import cycle: ${[...cycle, cycle[0]].join(" → ")}` });
  }
  return problems;
}

/** The cycles of a graph: its strongly connected components of more than one module (Tarjan). */
export function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) ?? 0);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node) ?? 0, low.get(next) ?? 0));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) ?? 0, index.get(next) ?? 0));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      for (;;) {
        const member = stack.pop() ?? node;
        onStack.delete(member);
        component.push(member);
        if (member === node) break;
      }
      if (component.length > 1 || (graph.get(node) ?? []).includes(node)) {
        found.push(component.reverse());
      }
    }
  };
  for (const node of graph.keys()) if (!index.has(node)) visit(node);
  return found;
}

/** Every `.ts` file under `src/`, relative to it. */
async function sourceFiles(dir = new URL("src/", ROOT), prefix = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      files.push(...await sourceFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    } else if (entry.name.endsWith(".ts")) {
      files.push(`${prefix}${entry.name}`);
    }
  }
  return files.sort();
}

interface InfoModule {
  readonly specifier: string;
  readonly dependencies?: readonly {
    readonly code?: { readonly specifier: string };
    readonly type?: { readonly specifier: string };
  }[];
}

/** The module graph of `src/`, from `deno info --json` on a root that imports every file. */
async function sourceGraph(): Promise<Map<string, string[]>> {
  const files = await sourceFiles();
  const root = await Deno.makeTempFile({ prefix: "scan-worker-deps-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(root, files.map((f) => `import "${SRC}${f}";\n`).join(""));
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", `--config=${new URL("deno.json", ROOT).pathname}`, root],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!info.success) throw new Error(new TextDecoder().decode(info.stderr));
    const { modules } = JSON.parse(new TextDecoder().decode(info.stdout)) as {
      modules: InfoModule[];
    };
    const graph = new Map<string, string[]>(files.map((f) => [f, []]));
    for (const module of modules) {
      if (!module.specifier.startsWith(SRC)) continue;
      const imports = new Set<string>();
      for (const dependency of module.dependencies ?? []) {
        for (const target of [dependency.code?.specifier, dependency.type?.specifier]) {
          if (target?.startsWith(SRC)) imports.add(target.slice(SRC.length));
        }
      }
      graph.set(module.specifier.slice(SRC.length), [...imports].sort());
    }
    return graph;
  } finally {
    await Deno.remove(root);
  }
}

if (import.meta.main) {
  const graph = await sourceGraph();
  const quiet = Deno.args.includes("--quiet");
  LAYERS.forEach((layer, i) => {
    if (quiet) return;
    console.log(`layer ${i}: ${layer.join(", ")}`);
    for (const [module, imports] of graph) {
      if (layer.includes(groupOf(module))) {
        console.log(`  ${module}${imports.length ? ` → ${imports.join(", ")}` : ""}`);
      }
    }
  });
  const problems = check(graph);
  for (const problem of problems) console.log(`${problem.kind}: ${problem.message}`);
  console.log(
    `deps: ${graph.size} modules, ${
      [...graph.values()].flat().length
    } imports, ${problems.length} problems (layers and cycles)`,
  );
  Deno.exit(problems.length === 0 ? 0 : 1);
}
