import { assertEquals, assertIncludes, assertOk } from "../helpers/assert.ts";
import { logger, setupLogging, stopLogging } from "../../src/log.ts";

/** Log with `format` and the given secrets; returns what was written. */
async function logged(
  format: "json" | "pretty",
  secrets: string[],
  log: () => void,
): Promise<string> {
  let text = "";
  await setupLogging("debug", format, { write: (line) => text += line, secrets });
  try {
    log();
  } finally {
    await stopLogging();
  }
  return text;
}

Deno.test("a JSON log line shows text values bare in its message, typed in its properties", async () => {
  const text = await logged(
    "json",
    [],
    () =>
      logger("worker").info("starting: {source} {url}, limit {limit}, database {database}{rest}", {
        source: "API",
        url: "http://h/x",
        limit: 100,
        database: "sqlite:./a.db",
        rest: "",
      }),
  );
  const line = JSON.parse(text);
  assertEquals(line.message, "starting: API http://h/x, limit 100, database sqlite:./a.db");
  assertEquals(line.properties.limit, 100);
  assertEquals([line.level, line.logger], ["INFO", "scan-worker.worker"]);
});

Deno.test("no log line shows a secret of the settings, in either format", async () => {
  for (const format of ["json", "pretty"] as const) {
    const text = await logged(format, ["hunter2-x", 'q"uote'], () => {
      logger("store").error("connect failed: {error}", {
        error: 'login hunter2-x refused for q"uote at postgres://app:other@db',
      });
      logger("api").warn("token hunter2-x rejected");
    });
    for (const secret of ["hunter2-x", 'q"uote', 'q\\"uote', "other"]) {
      assertOk(!text.includes(secret), `${format} shows ${secret}: ${text}`);
    }
    assertIncludes(text, "postgres://app:***@db");
  }
});
