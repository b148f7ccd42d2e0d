/**
 * How the SQL Server store sorts the server's errors, each with the message text the server
 * sends (Microsoft's "Database engine events and errors", `sys.messages`, US English; `%.*ls`
 * filled in as a server would).
 */
import { assertEquals } from "../helpers/assert.ts";
import { classifyMssqlError } from "../../src/store/mssql_errors.ts";
import { attachLoginError } from "../../src/store/mssql_config.ts";

/** A server error as `mssql` reports a failed request: number, severity, message. */
function serverError(number: number, severity: number, message: string) {
  return Object.assign(new Error(message), { name: "RequestError", number, class: severity });
}

/** The errors a failover, an upgrade or a busy server answer with: transient. */
const TRANSIENT: readonly [number, number, string][] = [
  [
    983,
    14,
    "Unable to access availability database 'Scan' because the database replica is not in the PRIMARY or SECONDARY role. Connections to an availability database is permitted only when the database replica is in the PRIMARY or SECONDARY role. Try the operation again later.",
  ],
  [
    976,
    14,
    "The target database, 'Scan', is participating in an availability group and is currently not accessible for queries. Either data movement is suspended or the availability replica is not enabled for read access.",
  ],
  [
    988,
    14,
    "Unable to access database 'Scan' because it lacks a quorum of nodes for high availability. Try the operation again later.",
  ],
  [
    956,
    14,
    "Database Scan is enabled for Database Mirroring, but has not yet synchronized with its partner. Try the operation again later.",
  ],
  [952, 16, "Database 'Scan' is in transition. Try the statement later."],
  [
    941,
    16,
    "Database 'Scan' cannot be opened because it is not started. Retry when the database is started.",
  ],
  [
    18401,
    14,
    "Login failed for user 'scan'. Reason: Server is in script upgrade mode. Only administrator can connect at this time.",
  ],
  [
    1205,
    13,
    "Transaction (Process ID 57) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
  ],
  [
    40613,
    17,
    "Database 'Scan' on server 'scan-sql' is not currently available. Please retry the connection later. If the problem persists, contact customer support, and provide them the session tracing ID of '0f6a3c1e-0000-4000-8000-000000000000'.",
  ],
];

/** Mistakes retrying cannot fix: permanent. */
const PERMANENT: readonly [number, number, string][] = [
  [208, 16, "Invalid object name 'dbo.ParcelStates'."],
  [
    229,
    14,
    "The INSERT permission was denied on the object 'OutboxEvents', database 'Scan', schema 'dbo'.",
  ],
  [2812, 16, "Could not find stored procedure 'sp_getapplok'."],
];

for (const [number, severity, message] of TRANSIENT) {
  Deno.test(`error ${number} (${message.slice(0, 48)}…) is transient`, () => {
    assertEquals(classifyMssqlError(serverError(number, severity, message)), {
      kind: "transient",
      code: `error ${number}`,
    });
  });
}

for (const [number, severity, message] of PERMANENT) {
  Deno.test(`error ${number} (${message.slice(0, 48)}…) is permanent`, () => {
    assertEquals(classifyMssqlError(serverError(number, severity, message)), {
      kind: "permanent",
      code: `error ${number}`,
    });
  });
}

/** A tedious connection as `attachLoginError` sees it: error tokens, then the connect event. */
function loginEvents() {
  const tokens: ((token: { number: number; class: number }) => void)[] = [];
  let connected: ((error?: Error) => void) | undefined;
  return {
    on(_event: "errorMessage", listener: (token: { number: number; class: number }) => void) {
      tokens.push(listener);
    },
    once(_event: "connect", listener: (error?: Error) => void) {
      connected = listener;
    },
    token(number: number, severity: number) {
      for (const listener of tokens) listener({ number, class: severity });
    },
    connect(error: Error) {
      connected?.(error);
    },
  };
}

Deno.test("a login refused with 4060 then 18456 (database not open yet) is transient: the first error counts", () => {
  const connection = loginEvents();
  attachLoginError(connection);
  // Cannot open database "Scan" requested by the login. The login failed.
  connection.token(4060, 11);
  // Login failed for user 'scan'.
  connection.token(18456, 14);
  const failed = Object.assign(new Error("Login failed for user 'scan'."), { code: "ELOGIN" });
  connection.connect(failed);
  const error = Object.assign(new Error(failed.message), {
    name: "ConnectionError",
    code: "ELOGIN",
    originalError: failed,
  });
  assertEquals(classifyMssqlError(error), { kind: "transient", code: "error 4060" });
});

Deno.test("a login refused with 18456 alone (wrong password) stays permanent", () => {
  const connection = loginEvents();
  attachLoginError(connection);
  connection.token(18456, 14);
  const failed = Object.assign(new Error("Login failed for user 'scan'."), { code: "ELOGIN" });
  connection.connect(failed);
  const error = { name: "ConnectionError", code: "ELOGIN", originalError: failed };
  assertEquals(classifyMssqlError(error), { kind: "permanent", code: "error 18456" });
});
