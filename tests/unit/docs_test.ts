/**
 * The repository explains itself: every link of README.md and docs/ resolves to a file and a
 * heading here, every "docs/rules.md §n" in the code names a section of the rules, and nothing
 * points at a specification outside the repository.
 */
import { assertEquals } from "../helpers/assert.ts";

const ROOT = new URL("../../", import.meta.url);

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
}

function headings(text: string): Set<string> {
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1] ?? "")));
}

async function files(dir: URL, suffix: string, prefix = ""): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) {
      found.push(...await files(new URL(`${entry.name}/`, dir), suffix, `${prefix}${entry.name}/`));
    } else if (entry.name.endsWith(suffix)) found.push(`${prefix}${entry.name}`);
  }
  return found;
}

const DOCS = ["README.md", ...(await files(new URL("docs/", ROOT), ".md", "docs/"))];

Deno.test("every link of README.md and docs/ resolves to a file and a heading", async () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    const text = await Deno.readTextFile(new URL(doc, ROOT));
    for (const [, target = ""] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // http:, mailto:
      const [path = "", hash] = target.split("#");
      const file = path === "" ? doc : new URL(path, new URL(doc, ROOT)).pathname.slice(
        ROOT.pathname.length,
      );
      let linked: string;
      try {
        linked = await Deno.readTextFile(new URL(file, ROOT));
      } catch {
        broken.push(`${doc}: ${target} (no file ${file})`);
        continue;
      }
      if (hash !== undefined && !headings(linked).has(hash)) {
        broken.push(`${doc}: ${target} (no heading #${hash} in ${file})`);
      }
    }
  }
  assertEquals(broken, []);
});

Deno.test("every docs/rules.md § the code cites is a section of the rules", async () => {
  const rules = await Deno.readTextFile(new URL("docs/rules.md", ROOT));
  const sections = new Set([...rules.matchAll(/^## §(\d+)/gm)].map((m) => m[1]));
  const items = new Set(
    [...rules.matchAll(/^(\d+)\. \*\*/gm)].map((m) => `3.${m[1]}`),
  );
  const missing: string[] = [];
  for (const dir of ["src", "tests", "scripts"]) {
    for (const file of await files(new URL(`${dir}/`, ROOT), ".ts", `${dir}/`)) {
      const text = await Deno.readTextFile(new URL(file, ROOT));
      for (const [, cited = ""] of text.matchAll(/docs\/rules\.md §(\d+(?:\.\d+)?)/g)) {
        const known = cited.includes(".") ? items.has(cited) : sections.has(cited);
        if (!known) missing.push(`${file}: §${cited}`);
      }
    }
  }
  assertEquals(missing, []);
});

Deno.test("nothing points at a specification outside the repository", async () => {
  const outside: string[] = [];
  for (const dir of ["src", "tests", "scripts", "docs"]) {
    for (const file of await files(new URL(`${dir}/`, ROOT), "", `${dir}/`)) {
      const text = await Deno.readTextFile(new URL(file, ROOT));
      if (/SPEC\s§|[.][.]\/shared\/(SPEC|STYLE|seed)/.test(text)) outside.push(file);
    }
  }
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  if (/SPEC\s§|[.][.]\/shared\//.test(readme)) outside.push("README.md");
  assertEquals(outside, []);
});
