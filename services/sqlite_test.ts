import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { immediateTransaction, type Migration, openSqlite, schemaVersion } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import { MigrationError } from "./errors.ts";

// Deliberately not idempotent: applied twice, the CREATE fails or the log gets two rows.
const COUNTED: Migration[] = [
  { name: "log", sql: "CREATE TABLE log (step INTEGER NOT NULL); INSERT INTO log VALUES (1);" },
  { name: "second", sql: "INSERT INTO log VALUES (2);" },
];

function logRows(db: DatabaseSync): number[] {
  return db.prepare("SELECT step FROM log ORDER BY rowid").all().map((r) => Number(r.step));
}

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "flash-im-sqlite-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("openSqlite() applies migrations and sets WAL, busy timeout, foreign keys", async () => {
  await withTempDir((dir) => {
    using db = openSqlite(join(dir, "a.db"), COUNTED, { busyTimeoutMs: 1234 });
    assert.equal(schemaVersion(db), 2);
    assert.deepEqual(logRows(db), [1, 2]);
    assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
    assert.deepEqual({ ...db.prepare("PRAGMA busy_timeout").get() }, { timeout: 1234 });
    assert.deepEqual({ ...db.prepare("PRAGMA foreign_keys").get() }, { foreign_keys: 1 });
  });
});

Deno.test("openSqlite() works in memory", () => {
  using db = openSqlite(":memory:", COUNTED);
  assert.equal(schemaVersion(db), 2);
});

Deno.test("openSqlite() on an up-to-date file applies nothing", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "a.db");
    openSqlite(path, COUNTED).close();
    using again = openSqlite(path, COUNTED);
    assert.deepEqual(logRows(again), [1, 2]);
  });
});

Deno.test("openSqlite() from a second handle while the first is open applies nothing", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "a.db");
    using first = openSqlite(path, COUNTED);
    using second = openSqlite(path, COUNTED);
    assert.equal(schemaVersion(second), 2);
    assert.deepEqual(logRows(first), [1, 2]);
  });
});

Deno.test("openSqlite() applies only the migrations appended since the last open", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "a.db");
    openSqlite(path, COUNTED.slice(0, 1)).close();
    using db = openSqlite(path, COUNTED);
    assert.deepEqual(logRows(db), [1, 2]);
    assert.equal(schemaVersion(db), 2);
  });
});

Deno.test("openSqlite() rolls back a failing run and names the failed migration", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "a.db");
    const broken = [...COUNTED, { name: "broken", sql: "INSERT INTO missing VALUES (1)" }];
    assert.throws(() => openSqlite(path, broken), (error) => {
      assert.ok(error instanceof MigrationError);
      assert.match(error.message, /migration 3 "broken" failed/);
      assert.ok(error.cause instanceof Error);
      return true;
    });
    using raw = new DatabaseSync(path);
    assert.equal(schemaVersion(raw), 0);
    assert.equal(raw.prepare("SELECT name FROM sqlite_schema WHERE name = 'log'").get(), undefined);
  });
});

Deno.test("openSqlite() refuses a schema newer than the code", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "a.db");
    openSqlite(path, COUNTED).close();
    assert.throws(() => openSqlite(path, COUNTED.slice(0, 1)), MigrationError);
  });
});

Deno.test("openSqlite() rejects a negative busy timeout", () => {
  assert.throws(() => openSqlite(":memory:", [], { busyTimeoutMs: -1 }), RangeError);
});

Deno.test("openSqlite() from racing worker threads applies each migration once", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "race.db");
    // A slow first step widens the window in which the racers overlap.
    const migrations: Migration[] = [
      {
        name: "slow",
        sql: `CREATE TABLE filler (x INTEGER);
          WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
          INSERT INTO filler SELECT x FROM c;`,
      },
      ...COUNTED,
    ];
    const racers = 4;
    const barrier = new SharedArrayBuffer(4);
    const workers = Array.from(
      { length: racers },
      () =>
        new Worker(new URL("./testdata/sqlite_open_worker.ts", import.meta.url), {
          type: "module",
        }),
    );
    try {
      const results = await Promise.all(workers.map((worker) => {
        const { promise, resolve } = Promise.withResolvers<{ ok: boolean; version?: number }>();
        worker.onmessage = (event) => resolve(event.data);
        worker.postMessage({ path, migrations, barrier, racers });
        return promise;
      }));
      assert.deepEqual(results, Array(racers).fill({ ok: true, version: 3 }));
    } finally {
      for (const worker of workers) worker.terminate();
    }
    using db = openSqlite(path, migrations);
    assert.deepEqual(logRows(db), [1, 2]);
    assert.deepEqual({ ...db.prepare("SELECT count(*) AS n FROM filler").get() }, { n: 100000 });
  });
});

Deno.test("immediateTransaction() commits the result and rolls back on a throw", () => {
  using db = openSqlite(":memory:", COUNTED);
  assert.equal(immediateTransaction(db, () => db.exec("INSERT INTO log VALUES (3)")), undefined);
  assert.throws(() =>
    immediateTransaction(db, () => {
      db.exec("INSERT INTO log VALUES (4)");
      throw new Error("boom");
    }), /boom/);
  assert.deepEqual(logRows(db), [1, 2, 3]);
  assert.equal(db.isTransaction, false);
});

Deno.test("immediateTransaction() refuses to nest", () => {
  using db = openSqlite(":memory:", []);
  assert.throws(() => immediateTransaction(db, () => immediateTransaction(db, () => 1)), TypeError);
});

Deno.test("SQLITE_MIGRATIONS apply to a fresh database and create the auth tables", () => {
  using db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  assert.equal(schemaVersion(db), SQLITE_MIGRATIONS.length);
  const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .all().map((r) => r.name);
  assert.ok(tables.includes("users"));
  assert.ok(tables.includes("refresh_tokens"));
});
