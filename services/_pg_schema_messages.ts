/**
 * The Postgres schema of conversations, members, messages and the per-user change log
 * (migration 2 of `PG_MIGRATIONS`). Private to `services/`.
 *
 * @module
 */

import type { Migration } from "./sqlite.ts";

/** Conversations, members, messages and the per-user change log. */
export const PG_MESSAGES_MIGRATION: Migration = {
  name: "conversations, messages and the per-user change log",
  // Placeholder: filled in with the message store.
  sql: "SELECT 1",
};
