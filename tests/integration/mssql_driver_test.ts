/**
 * The SQL Server store's connection handling with the real `mssql` driver against a stand-in
 * server (no SQL Server runs here): a refused login carries the server's error number, so it is
 * sorted like any server error; and `Encrypt=Optional` connects encrypted when the server
 * requires it, as SqlClient does.
 */
import { getLogger } from "@logtape/logtape";
import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { startFakeTds } from "../helpers/fake_tds.ts";
import { MssqlStore } from "../../src/store/mssql.ts";
import { mssqlConfig } from "../../src/store/mssql_config.ts";
import { PermanentStoreError } from "../../src/errors.ts";

const LOGIN_FAILED = { number: 18456, severity: 14, message: "Login failed for user 'app'." };

Deno.test("a refused login (18456) stops the store with its number, not a retry", async () => {
  const server = startFakeTds({ encryption: 0x02, loginError: LOGIN_FAILED });
  const store = new MssqlStore(
    mssqlConfig(`mssql://app:wrong@127.0.0.1:${server.port}/Scan?encrypt=optional`),
    getLogger(["test"]),
  );
  try {
    await assertRejects(
      store.readCheckpoint(),
      PermanentStoreError,
      /^SQL Server error 18456 while reading the checkpoint: Login failed for user 'app'\.$/,
    );
    assertEquals(server.logins(), 1);
  } finally {
    await store.close();
    await server.close();
  }
});

Deno.test("Encrypt=Optional against a server that requires encryption connects encrypted", async () => {
  const server = startFakeTds({ encryption: 0x03, loginError: LOGIN_FAILED });
  const store = new MssqlStore(
    mssqlConfig(
      `Server=127.0.0.1,${server.port};Database=Scan;User Id=app;Password=pw;Encrypt=Optional;Connect Timeout=5`,
    ),
    getLogger(["test"]),
  );
  try {
    // The stand-in cannot speak TLS: the encrypted attempt fails once it starts the handshake.
    await assertRejects(store.readCheckpoint(), Error);
    // 0x02: tedious offers no encryption; 0x01: the store tries again, encrypted.
    assertEquals(server.encryptionAsked.slice(0, 2), [0x02, 0x01]);
  } finally {
    await store.close();
    await server.close();
  }
});

Deno.test("Encrypt=Mandatory against a server without encryption fails permanently", async () => {
  const server = startFakeTds({ encryption: 0x02, loginError: LOGIN_FAILED });
  const store = new MssqlStore(
    mssqlConfig(`mssql://app:pw@127.0.0.1:${server.port}/Scan?encrypt=mandatory`),
    getLogger(["test"]),
  );
  try {
    await assertRejects(store.readCheckpoint(), PermanentStoreError, /EENCRYPT/);
    assertEquals(server.encryptionAsked, [0x01]);
  } finally {
    await store.close();
    await server.close();
  }
});
