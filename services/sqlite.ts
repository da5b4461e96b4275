/**
 * Opens the embedded SQLite store (`node:sqlite`) with the settings every service relies
 * on, and brings its schema up to date.
 *
 * Several worker threads (and processes) open the same file, so each connection gets a
 * busy timeout, the file runs in WAL mode (readers do not block the writer), and schema
 * migrations run under `BEGIN IMMEDIATE`: the first opener takes the write lock and applies
 * them, the others wait, then see the new `user_version` and apply nothing.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { MigrationError } from "./errors.ts";

/**
 * One schema step. Its version is its position in the list plus one, so a list of
 * migrations is append-only: never edit or reorder a migration that has shipped.
 */
export interface Migration {
  /** A short description, shown when the migration fails. */
  readonly name: string;
  /** SQL run inside the migration transaction; must not contain `BEGIN` or `COMMIT`. */
  readonly sql: string;
}

/** Options of {@link openSqlite}. */
export interface OpenSqliteOptions {
  /** How long a statement waits for another connection's lock. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
}

/** Default of {@link OpenSqliteOptions.busyTimeoutMs}. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens (creating if needed) the database at `path` (or `":memory:"`), sets WAL mode, the
 * busy timeout and foreign keys, and applies the `migrations` it has not applied yet, all in
 * one transaction. The caller owns the returned handle and closes it.
 *
 * @throws {MigrationError} when the file's schema is newer than `migrations`, or a
 *   migration fails (nothing of that run is kept).
 *
 * @example
 * ```ts
 * using db = openSqlite(":memory:", [{ name: "t", sql: "CREATE TABLE t (x)" }]);
 * ```
 */
export function openSqlite(
  path: string,
  migrations: readonly Migration[],
  options: OpenSqliteOptions = {},
): DatabaseSync {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError(`Cannot open SQLite: busyTimeoutMs ${busyTimeoutMs} is not >= 0`);
  }
  // SQLite answers SQLITE_BUSY at once, without consulting the busy timeout, in a few
  // places an opener can hit while another connection converts the file to WAL or runs
  // WAL recovery. Those are transient: the whole open is retried until the timeout.
  const deadline = Date.now() + busyTimeoutMs;
  for (let attempt = 1;; attempt++) {
    const db = new DatabaseSync(path);
    try {
      // The busy timeout goes first: switching to WAL already needs a lock.
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      db.exec("PRAGMA journal_mode = WAL");
      // In WAL mode NORMAL is durable against application crashes (not power loss) and
      // avoids an fsync per commit.
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA foreign_keys = ON");
      migrate(db, path, migrations);
      return db;
    } catch (error) {
      db.close();
      if (!isBusy(error) || Date.now() >= deadline) throw error;
      sleepSync(Math.min(5 * attempt, 50) + Math.random() * 5);
    }
  }
}

/** Whether `error` is SQLite's SQLITE_BUSY (node:sqlite exposes only the message). */
function isBusy(error: unknown): boolean {
  const cause = error instanceof MigrationError ? error.cause : error;
  return cause instanceof Error && cause.message === "database is locked";
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the thread for `ms` (the open is synchronous, and only retries sleep). */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/**
 * Runs `fn` inside `BEGIN IMMEDIATE ... COMMIT` (rolled back if it throws) and returns its
 * result. IMMEDIATE takes the write lock up front, so a read-then-write inside `fn` cannot
 * be interleaved with another connection's write. `fn` must be synchronous.
 *
 * @throws {TypeError} when `db` is already inside a transaction.
 */
export function immediateTransaction<T>(db: DatabaseSync, fn: () => T): T {
  if (db.isTransaction) {
    throw new TypeError("Cannot begin a transaction: the connection is already in one");
  }
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = fn();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
}

/** Reads `PRAGMA user_version`, the number of migrations applied. */
export function schemaVersion(db: DatabaseSync): number {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number };
  return row.user_version;
}

function migrate(db: DatabaseSync, path: string, migrations: readonly Migration[]): void {
  const target = migrations.length;
  // Fast path without the write lock: most opens find the schema current.
  if (checkVersion(schemaVersion(db), target, path) === target) return;
  let step = -1;
  try {
    immediateTransaction(db, () => {
      // Read again under the lock: another connection may have migrated meanwhile.
      for (step = checkVersion(schemaVersion(db), target, path); step < target; step++) {
        db.exec(migrations[step].sql);
      }
      db.exec(`PRAGMA user_version = ${target}`);
    });
  } catch (error) {
    if (error instanceof MigrationError || step < 0) throw error;
    const name = step < target ? ` ${step + 1} "${migrations[step].name}"` : "s";
    throw new MigrationError(`Cannot migrate ${path}: migration${name} failed`, {
      cause: error,
    });
  }
}

function checkVersion(version: number, target: number, path: string): number {
  if (version > target) {
    throw new MigrationError(
      `Cannot open ${path}: schema version ${version} is newer than this code's ${target}`,
    );
  }
  return version;
}
