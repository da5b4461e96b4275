/**
 * Advisory locks for the Postgres store backends. Several nodes share one database, so a
 * read-decide-write that SQLite serializes with `BEGIN IMMEDIATE` takes a transaction-level
 * advisory lock on what it decides about (a pair of users, a user's tokens) instead: the
 * lock is released at commit or rollback. Private to `services/`.
 *
 * Keys are strings hashed to 64 bits with `hashtextextended`; a collision only makes two
 * unrelated operations wait for each other. Every key starts with `flash-im:`.
 *
 * @module
 */

import type postgres from "postgres";

/** The connection a `sql.begin` callback receives. */
export type PgTx = postgres.TransactionSql<Record<string, never>>;

/**
 * Waits for the transaction-level advisory lock named `key`, held until `tx` ends. Take at
 * most one per transaction, or always in the same order, so that no two wait for each other.
 */
export async function lockXact(tx: PgTx, key: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtextextended(${key}, 0))`;
}
