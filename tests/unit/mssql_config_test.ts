import { assertEquals, assertOk, assertThrows } from "../helpers/assert.ts";
import { ConfigError } from "../../src/errors.ts";
import { mssqlConfig } from "../../src/store/mssql_config.ts";

Deno.test("the mssql:// URL form gives server, port, database, login and TLS settings", () => {
  const config = mssqlConfig(
    "mssql://scan%40app:p%3Ass%2Fw@db.example:1444/ScanWorkerDb?encrypt=true&trustServerCertificate=false",
  );
  assertEquals(
    [config.server, config.port, config.database, config.user, config.password],
    ["db.example", 1444, "ScanWorkerDb", "scan@app", "p:ss/w"],
  );
  assertEquals([config.options?.encrypt, config.options?.trustServerCertificate], [true, false]);
  assertEquals(config.options?.workstationId, "scan-worker");
  assertEquals(config.pool?.max, 4);
});

Deno.test("the URL form defaults to port 1433 and encryption on", () => {
  const config = mssqlConfig("mssql://app:pw@db/Scan");
  assertEquals([config.port, config.options?.encrypt, config.options?.trustServerCertificate], [
    1433,
    true,
    false,
  ]);
});

Deno.test("URL options: instance name, timeouts, pool size", () => {
  const config = mssqlConfig(
    "mssql://app:pw@db/Scan?instanceName=SQLEXPRESS&connectTimeout=5000&requestTimeout=60000&poolMax=8",
  );
  assertEquals(config.options?.instanceName, "SQLEXPRESS");
  assertEquals(config.port, undefined);
  assertEquals([config.connectionTimeout, config.requestTimeout, config.pool?.max], [
    5000,
    60000,
    8,
  ]);
});

Deno.test("bad mssql:// URLs are refused with the reason", () => {
  for (
    const [url, pattern] of [
      ["mssql://app:pw@db/", /must name one database/],
      ["mssql://db/Scan", /has no user/],
      ["mssql://app:pw@db/Scan?encrypt=maybe", /encrypt="maybe" is not one of Optional, Mandatory/],
      ["mssql://app:pw@db/Scan?trustServerCertificate=maybe", /="maybe" is not true or false/],
      ["mssql://app:pw@db/Scan?color=blue", /unknown mssql:\/\/ URL parameter "color"/],
      ["mssql://app:pw@db/Scan?poolMax=0", /poolMax="0" is not a positive whole number/],
    ] as const
  ) {
    assertThrows(() => mssqlConfig(url), ConfigError, pattern);
  }
});

Deno.test("the ADO.NET form operators already have", () => {
  const config = mssqlConfig(
    "Server=db.example,1433;Database=ScanWorkerDb;User Id=app;Password=pw;Encrypt=True;TrustServerCertificate=False",
  );
  assertEquals(
    [config.server, config.port, config.database, config.user, config.password],
    ["db.example", 1433, "ScanWorkerDb", "app", "pw"],
  );
  assertEquals([config.options?.encrypt, config.options?.trustServerCertificate], [true, false]);
});

Deno.test("ADO.NET synonyms and tcp: prefixes", () => {
  const config = mssqlConfig("Data Source=tcp:db,1444;Initial Catalog=Scan;UID=app;PWD=pw");
  assertEquals([config.server, config.port, config.database, config.user], [
    "db",
    1444,
    "Scan",
    "app",
  ]);
});

Deno.test("ADO.NET quoting: doubled quotes, semicolons inside quotes and braces", () => {
  const password = (text: string) =>
    mssqlConfig(`Server=db;Database=D;User Id=app;Password=${text}`).password;
  assertEquals(password("'it''s;ok'"), "it's;ok");
  assertEquals(password('"a""b;c"'), 'a"b;c');
  assertEquals(password("{x;y}"), "x;y");
});

Deno.test("Windows authentication is refused with one clear line", () => {
  for (
    const text of [
      "Server=localhost\\SQLEXPRESS;Database=ScanWorkerDb;Trusted_Connection=True;TrustServerCertificate=True;",
      "Server=db;Database=D;Integrated Security=SSPI",
      "Server=db;Database=D;integrated security=true;User Id=x;Password=y",
    ]
  ) {
    assertThrows(
      () => mssqlConfig(text),
      ConfigError,
      /\(Windows authentication\) cannot work from this runtime; use a SQL Server login/,
    );
  }
});

Deno.test("ADO.NET strings missing a required key name it, never the password", () => {
  assertThrows(
    () => mssqlConfig("Database=D;User Id=a;Password=secret1"),
    ConfigError,
    /no Server/,
  );
  assertThrows(
    () => mssqlConfig("Server=db;User Id=a;Password=secret1"),
    ConfigError,
    /no Database/,
  );
  assertThrows(
    () => mssqlConfig("Server=db;Database=D;Password=secret1"),
    ConfigError,
    /no User Id/,
  );
  assertThrows(() => mssqlConfig("Server=db;Database=D;User Id=a"), ConfigError, /no Password/);
  try {
    mssqlConfig("Server=db;Database=D;Password=secret1");
  } catch (error) {
    assertOk(!(error as Error).message.includes("secret1"));
  }
});

Deno.test("ADO.NET Encrypt follows SqlClient: Optional is off, Mandatory on, Strict is TDS 8", () => {
  const encrypt = (value: string) =>
    mssqlConfig(`Server=db;Database=D;User Id=a;Password=p;Encrypt=${value}`).options?.encrypt;
  for (const off of ["Optional", "optional", "False", "no", "0"]) assertEquals(encrypt(off), false);
  for (const on of ["Mandatory", "True", "yes", "1"]) assertEquals(encrypt(on), true);
  assertEquals(encrypt("Strict"), "strict");
  assertEquals(mssqlConfig("Server=db;Database=D;User Id=a;Password=p").options?.encrypt, true);
  assertThrows(() => encrypt("Maybe"), ConfigError, /Encrypt="Maybe" is not one of Optional/);
});

Deno.test("the URL form's encrypt takes the same words", () => {
  const encrypt = (value: string) =>
    mssqlConfig(`mssql://a:p@db/D?encrypt=${value}`).options?.encrypt;
  assertEquals([encrypt("optional"), encrypt("mandatory"), encrypt("strict")], [
    false,
    true,
    "strict",
  ]);
});

Deno.test("User is a synonym of User Id", () => {
  assertEquals(mssqlConfig("Server=db;Database=D;User=app;Password=p").user, "app");
  assertEquals(mssqlConfig("Server=db;Database=D;User Id=app;Password=p").user, "app");
});

Deno.test("a port wins over an instance name, so SQL Browser is not asked", () => {
  const both = mssqlConfig("Server=db\\INST,1444;Database=D;User Id=a;Password=p");
  assertEquals([both.server, both.port, both.options?.instanceName], ["db", 1444, undefined]);
  const instance = mssqlConfig("Server=db\\INST;Database=D;User Id=a;Password=p");
  assertEquals([instance.server, instance.options?.instanceName], ["db", "INST"]);
  const url = mssqlConfig("mssql://a:p@db:1444/D?instanceName=INST");
  assertEquals([url.port, url.options?.instanceName], [1444, undefined]);
});

Deno.test("no connection string turns implicit transactions on (pages would never commit)", () => {
  const config = mssqlConfig(
    "Server=db;Database=D;User Id=a;Password=p;Transaction Binding=Implicit Unbind",
  );
  assertEquals(config.options?.enableImplicitTransactions, false);
});

Deno.test("Application Name reaches the server; scan-worker by default", () => {
  assertEquals(
    mssqlConfig("Server=db;Database=D;User Id=a;Password=p;Application Name=billing").options
      ?.appName,
    "billing",
  );
  assertEquals(
    mssqlConfig("Server=db;Database=D;User Id=a;Password=p").options?.appName,
    "scan-worker",
  );
});

Deno.test("pooled connections are checked by their socket, not by a SELECT 1 round trip", () => {
  assertEquals(mssqlConfig("mssql://app:pw@db:1433/Scan").validateConnection, "socket");
  assertEquals(
    mssqlConfig("Server=db,1433;Database=Scan;User Id=app;Password=pw").validateConnection,
    "socket",
  );
});

Deno.test("an ADO.NET string that does not parse is shown masked, as DATABASE_URL checks it", () => {
  assertThrows(
    () => mssqlConfig("Server='db;User Id=a;Password=secret1"),
    ConfigError,
    /^invalid DATABASE_URL \(--db\): "Server='db;User Id=a;Password=\*\*\*" is not an ADO\.NET connection string \(/,
  );
});
