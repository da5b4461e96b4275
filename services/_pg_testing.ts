/**
 * Test support for the Postgres backends: the server tests use (env `FLASH_TEST_POSTGRES_URL`,
 * else the local default) and a fresh schema per test, dropped afterwards, so test runs on a
 * shared server never see each other's rows. Private to `services/` tests.
 *
 * @module
 */

import type { Migration } from "./sqlite.ts";
import { openPostgres, type Sql } from "./postgres.ts";

/** The Postgres server integration tests use. */
export const PG_TEST_URL = Deno.env.get("FLASH_TEST_POSTGRES_URL") ??
  "postgres://postgres@127.0.0.1:5432/test";

/** A unique schema name for one test (`t_` + random hex). */
export function testSchemaName(): string {
  return `t_${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
}

/** A migrated pool on a fresh schema, and `drop()` that ends it and removes the schema. */
export interface TestSchema {
  readonly sql: Sql;
  readonly schema: string;
  drop(): Promise<void>;
}

/** Opens a pool on a fresh schema migrated with `migrations`. */
export async function openTestSchema(
  migrations: readonly Migration[],
  poolSize = 4,
): Promise<TestSchema> {
  const schema = testSchemaName();
  const sql = await openPostgres(PG_TEST_URL, migrations, { schema, poolSize });
  return {
    sql,
    schema,
    drop: async () => {
      try {
        await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}
