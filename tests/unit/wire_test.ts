import { assertEquals } from "../helpers/assert.ts";
import { parsePageBody } from "../../src/api/wire.ts";

Deno.test("a page body yields its raw events", () => {
  assertEquals(parsePageBody('{"ScanEvents": [{"EventId": 1}], "Extra": 1}'), {
    ok: true,
    events: [{ EventId: 1 }],
  });
});

Deno.test("bodies that are not a page are refused with the reason", () => {
  assertEquals(parsePageBody("<html>502 Bad Gateway</html>"), {
    ok: false,
    problem: 'body is not JSON (starts "<html>502 Bad Gateway</html>")',
  });
  assertEquals(parsePageBody(""), { ok: false, problem: 'body is not JSON (starts "")' });
  assertEquals(parsePageBody("[]"), { ok: false, problem: "body is not a JSON object" });
  assertEquals(parsePageBody("null"), { ok: false, problem: "body is not a JSON object" });
  assertEquals(parsePageBody("{}"), { ok: false, problem: "body has no ScanEvents" });
  assertEquals(parsePageBody('{"ScanEvents": {}}'), {
    ok: false,
    problem: "ScanEvents is not an array",
  });
});
