/**
 * Errors the services layer throws. Expected failures (a wrong password, a taken username,
 * a reused refresh token) are returned as values instead; these are for broken
 * configuration or data. Each sets `name` and accepts `{ cause }`.
 *
 * @module
 */

/**
 * A database cannot be brought to the schema this code expects: it was written by a newer
 * version, or a migration failed (the failed migration's transaction was rolled back).
 */
export class MigrationError extends Error {
  override name = "MigrationError";
}

/**
 * A signing key file is unusable: unreadable, not an Ed25519 private JWK, or readable by
 * other users.
 */
export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}
