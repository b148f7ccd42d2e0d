/**
 * The shape check (`scripts/shape_lint.ts`, a `deno lint` plugin): a file of `src/` over 400
 * lines, a function body over 60 lines, a class over 20 members are each reported, named; one
 * line or one member less passes; files outside `src/` are not checked. The last test runs
 * `deno lint` with the project's deno.json on a deliberately bad file.
 */
import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import plugin, { fileLines } from "../../scripts/shape_lint.ts";

const IN_SRC = decodeURIComponent(new URL("../../src/fixture.ts", import.meta.url).pathname);
const IN_TESTS = decodeURIComponent(new URL("./fixture.ts", import.meta.url).pathname);

/** The messages the plugin reports for `source` as the file `path`. */
function messages(source: string, path = IN_SRC): string[] {
  return Deno.lint.runPlugin(plugin, path, source).map((d) => `${d.id}: ${d.message}`);
}

/** A function declaration named `name` whose body spans `lines` lines, braces included. */
function functionOf(name: string, lines: number): string {
  const statements = Array.from({ length: lines - 2 }, (_, i) => `  void ${i};`);
  return `export function ${name}(): void {\n${statements.join("\n")}\n}\n`;
}

/** A class named `name` with `count` methods. */
function classOf(name: string, count: number): string {
  const methods = Array.from({ length: count }, (_, i) => `  m${i}(): number { return ${i}; }`);
  return `export class ${name} {\n${methods.join("\n")}\n}\n`;
}

Deno.test("shape: lines are counted as wc -l counts them", () => {
  assertEquals([fileLines(""), fileLines("a\n"), fileLines("a\nb"), fileLines("a\nb\n")], [
    0,
    1,
    2,
    2,
  ]);
});

Deno.test("shape: a file of src/ over 400 lines is reported with its size; 400 pass", () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `export const c${i} = ${i};\n`);
  assertEquals(messages(lines(400).join("")), []);
  assertEquals(messages(lines(401).join("")), [
    "shape/file-lines: file is 401 lines (at most 400)",
  ]);
});

Deno.test("shape: a function body over 60 lines is reported by name; 60 pass", () => {
  assertEquals(messages(functionOf("justRight", 60)), []);
  assertEquals(messages(functionOf("tooLong", 61)), [
    "shape/function-lines: function tooLong is 61 lines (at most 60)",
  ]);
  const method = `export class Holder {\n  run(): void {\n${"    void 0;\n".repeat(60)}  }\n}\n`;
  assertEquals(messages(method), [
    "shape/function-lines: function Holder.run is 62 lines (at most 60)",
  ]);
  const arrow = `export const quick = (): void => {\n${"  void 0;\n".repeat(59)}};\n`;
  assertEquals(messages(arrow), [
    "shape/function-lines: function quick is 61 lines (at most 60)",
  ]);
});

Deno.test("shape: a class over 20 members is reported by name; 20 pass", () => {
  assertEquals(messages(classOf("Enough", 20)), []);
  assertEquals(messages(classOf("Crowded", 21)), [
    "shape/class-members: class Crowded has 21 members (at most 20)",
  ]);
});

Deno.test("shape: private fields, accessors and parameter properties are members; overloads not", () => {
  const source = `export class Counted {
  #a = 1;
  readonly b = 2;
  static c = 3;
  constructor(private readonly d: number, public e: number) {}
  get f(): number { return this.#a; }
  set f(value: number) { this.#a = value; }
  #g(): void {}
  h(x: number): number;
  h(x: string): string;
  h(x: number | string): number | string { return x; }
  static { Counted.c = 4; }
}
`;
  // #a, b, c, constructor, d, e, get f, set f, #g, h, the static block: 11.
  const padding = Array.from({ length: 9 }, (_, i) => `  p${i} = ${i};`).join("\n");
  const at20 = source.replace("  #a = 1;", `  #a = 1;\n${padding}`);
  assertEquals(messages(at20), []);
  assertEquals(messages(at20.replace("  #a = 1;", "  #a = 1;\n  one = 1;")), [
    "shape/class-members: class Counted has 21 members (at most 20)",
  ]);
});

Deno.test("shape: files outside src/ are not checked", () => {
  assertEquals(messages(functionOf("longTestHelper", 80) + classOf("Big", 30), IN_TESTS), []);
});

Deno.test("shape: deno lint with the project's deno.json fails on a bad file of src/, naming each offender", async () => {
  const root = new URL("../../", import.meta.url);
  const dir = await Deno.makeTempDir({ prefix: "shape-lint-" });
  try {
    await Deno.mkdir(`${dir}/scripts`);
    await Deno.mkdir(`${dir}/src`);
    await Deno.copyFile(new URL("deno.json", root), `${dir}/deno.json`);
    await Deno.copyFile(new URL("scripts/shape_lint.ts", root), `${dir}/scripts/shape_lint.ts`);
    const bad = functionOf("tooLong", 70) + classOf("Crowded", 22) +
      Array.from({ length: 320 }, (_, i) => `export const filler${i} = ${i};\n`).join("");
    await Deno.writeTextFile(`${dir}/src/bad.ts`, bad);
    await Deno.writeTextFile(`${dir}/src/good.ts`, functionOf("short", 10));
    const lint = await new Deno.Command(Deno.execPath(), {
      args: ["lint", "--config", `${dir}/deno.json`, "src/"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const output = new TextDecoder().decode(lint.stdout) + new TextDecoder().decode(lint.stderr);
    assertOk(!lint.success, `deno lint passed a bad file:\n${output}`);
    assertIncludes(output, `file is ${fileLines(bad)} lines (at most 400)`);
    assertIncludes(output, "function tooLong is 70 lines (at most 60)");
    assertIncludes(output, "class Crowded has 22 members (at most 20)");
    assertIncludes(output, "src/bad.ts");
    assertEquals(output.match(/error\[[\w/-]+\]/g)?.sort(), [
      "error[shape/class-members]",
      "error[shape/file-lines]",
      "error[shape/function-lines]",
    ], output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
