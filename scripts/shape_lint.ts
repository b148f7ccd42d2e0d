/**
 * The shape of `src/`, checked by `deno lint` (this plugin is in deno.json's `lint.plugins`, so
 * `deno task test` runs it): no file over {@link MAX_FILE_LINES} lines, no function body over
 * {@link MAX_FUNCTION_LINES} lines, no class over {@link MAX_CLASS_MEMBERS} members. Each
 * offender is reported where it is, named, with its size and the limit.
 *
 * What counts:
 * - a file's lines are its newline-terminated lines (what `wc -l` says);
 * - a function's are the lines its body spans, braces included: declarations, expressions,
 *   arrow functions and methods, each on its own (an inner function's lines count for the outer
 *   one too);
 * - a class's members are its properties, methods, accessors (a getter and a setter are two),
 *   constructor, static blocks and index signatures, private `#` ones included, and the
 *   constructor's parameter properties; overload signatures are not members of their own.
 *
 * Only files under `src/` of the project this file belongs to (the folder above `scripts/`) are
 * checked: tests and scripts may be long. The plugin imports nothing, so a copy of it in another
 * folder checks that folder's `src/`.
 *
 * @module
 */

/** The most lines a file in `src/` may have. */
export const MAX_FILE_LINES = 400;
/** The most lines a function body in `src/` may span. */
export const MAX_FUNCTION_LINES = 60;
/** The most members a class in `src/` may have. */
export const MAX_CLASS_MEMBERS = 20;

/** The folder checked: `src/` beside this plugin's `scripts/`. */
const SRC = decodeURIComponent(new URL("../src/", import.meta.url).pathname);

/** Whether `filename` (absolute, as `deno lint` gives it) is a file of `src/`. */
function checked(filename: string): boolean {
  return filename.replaceAll("\\", "/").startsWith(SRC);
}

/** The 1-based line of each offset in `text`, from the offsets where lines start. */
function lineOf(text: string): (offset: number) => number {
  const starts = [0];
  for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return (offset) => {
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((starts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    return low + 1;
  };
}

/** How many lines `text` has, as `wc -l` counts them (a last line without newline counts too). */
export function fileLines(text: string): number {
  if (text === "") return 0;
  const newlines = text.split("\n").length - 1;
  return text.endsWith("\n") ? newlines : newlines + 1;
}

/** A key's name as a reader sees it: `name`, `#name`, `"name"`, or `[computed]`. */
function keyName(key: Deno.lint.Node | null | undefined): string {
  if (key === null || key === undefined) return "?";
  if (key.type === "Identifier") return key.name;
  if (key.type === "PrivateIdentifier") return `#${key.name}`;
  if (key.type === "Literal") return String(key.value);
  return "[computed]";
}

type FunctionNode =
  | Deno.lint.FunctionDeclaration
  | Deno.lint.FunctionExpression
  | Deno.lint.ArrowFunctionExpression;

/** The name a reader knows a function by: its own, its method's, its variable's or property's. */
function functionName(node: FunctionNode, line: number): string {
  if (node.type !== "ArrowFunctionExpression" && node.id) return node.id.name;
  const parent = node.parent;
  if (parent.type === "MethodDefinition" || parent.type === "Property") {
    const owner = parent.type === "MethodDefinition" ? className(parent.parent.parent) : null;
    return owner === null ? keyName(parent.key) : `${owner}.${keyName(parent.key)}`;
  }
  if (parent.type === "PropertyDefinition") return keyName(parent.key);
  if (parent.type === "VariableDeclarator") return keyName(parent.id);
  return `the function at line ${line}`;
}

/** A class's name, or `the class at …` for an anonymous one. */
function className(node: Deno.lint.ClassDeclaration | Deno.lint.ClassExpression): string {
  return node.id?.name ?? "an anonymous class";
}

/** How many members a class body has (see the module's list). */
export function memberCount(body: Deno.lint.ClassBody): number {
  let members = 0;
  for (const member of body.body) {
    if (member.type === "MethodDefinition") {
      if (member.value.type === "TSEmptyBodyFunctionExpression") continue;
      if (member.kind === "constructor") {
        members += member.value.params.filter((p) => p.type === "TSParameterProperty").length;
      }
    }
    members++;
  }
  return members;
}

/** The rules: `file-lines`, `function-lines`, `class-members`. */
const plugin: Deno.lint.Plugin = {
  name: "shape",
  rules: {
    "file-lines": {
      create(ctx) {
        if (!checked(ctx.filename)) return {};
        return {
          Program() {
            const lines = fileLines(ctx.sourceCode.text);
            if (lines <= MAX_FILE_LINES) return;
            ctx.report({
              range: [0, 0],
              message: `file is ${lines} lines (at most ${MAX_FILE_LINES})`,
              hint: "split it by concern: one concept, one home",
            });
          },
        };
      },
    },
    "function-lines": {
      create(ctx) {
        if (!checked(ctx.filename)) return {};
        const line = lineOf(ctx.sourceCode.text);
        const measure = (node: FunctionNode) => {
          if (node.body === null) return;
          const [start, end] = node.body.range;
          const lines = line(Math.max(start, end - 1)) - line(start) + 1;
          if (lines <= MAX_FUNCTION_LINES) return;
          ctx.report({
            node,
            message: `function ${
              functionName(node, line(start))
            } is ${lines} lines (at most ${MAX_FUNCTION_LINES})`,
            hint: "give its steps names of their own",
          });
        };
        return {
          FunctionDeclaration: measure,
          FunctionExpression: measure,
          ArrowFunctionExpression: measure,
        };
      },
    },
    "class-members": {
      create(ctx) {
        if (!checked(ctx.filename)) return {};
        return {
          ClassBody(node) {
            const members = memberCount(node);
            if (members <= MAX_CLASS_MEMBERS) return;
            ctx.report({
              node: node.parent,
              message: `class ${
                className(node.parent)
              } has ${members} members (at most ${MAX_CLASS_MEMBERS})`,
              hint: "a class past a dozen members is two jobs: split it",
            });
          },
        };
      },
    },
  },
};

export default plugin;
