/**
 * flash-im's services: the embedded SQLite store (accounts, conversations and messages,
 * friends) and the auth service (scrypt passwords, Ed25519 access tokens, rotating refresh
 * tokens with reuse detection).
 *
 * Ports (`UserStore`, `RefreshTokenStore`, `MessageStore`, `FriendStore`) come with a
 * contract test suite each, so other backends (Postgres) prove the same behaviour. Expected
 * refusals are returned as values (`{ ok: false, code, message }` from the auth service,
 * `{ ok: false, reason }` or a `status` from the stores); broken configuration or data
 * throws.
 *
 * @example
 * ```ts
 * import {
 *   AuthService, loadOrCreateSigningKeys, openSqlite, SqliteRefreshTokenStore,
 *   SQLITE_MIGRATIONS, SqliteUserStore,
 * } from "./services/mod.ts";
 *
 * const db = openSqlite("data/flash-im.db", SQLITE_MIGRATIONS);
 * const auth = new AuthService({
 *   users: new SqliteUserStore(db),
 *   refreshTokens: new SqliteRefreshTokenStore(db),
 *   keys: await loadOrCreateSigningKeys("data/keys"),
 * });
 * const login = await auth.login("alice", "correct horse", "laptop");
 * if (login.ok) {
 *   const checked = await auth.verifyAccessToken(login.tokens.accessToken);
 *   // checked.ok && checked.claims.userId === login.tokens.userId
 * }
 * ```
 *
 * @module
 */

// --- Embedded SQLite store ---------------------------------------------------------------

export {
  /** How long a connection waits for another's lock by default (5000 ms). */
  DEFAULT_BUSY_TIMEOUT_MS,
  /** Runs a synchronous function in `BEGIN IMMEDIATE ... COMMIT`; rolls back on a throw. */
  immediateTransaction,
  /** One append-only schema step (`name`, `sql`); its version is its index plus one. */
  type Migration,
  /**
   * Opens a SQLite file (or `":memory:"`) in WAL mode with a busy timeout and foreign keys,
   * and applies pending migrations once even when several threads open it at once.
   * Throws `MigrationError` if the schema is newer than the code or a migration fails.
   */
  openSqlite,
  /** Options of `openSqlite` (`busyTimeoutMs`). */
  type OpenSqliteOptions,
  /** The number of migrations applied to a database (`PRAGMA user_version`). */
  schemaVersion,
} from "./sqlite.ts";

export {
  /** The embedded store's schema, shared by every SQLite-backed service; append-only. */
  SQLITE_MIGRATIONS,
} from "./sqlite_migrations.ts";

// --- User store ---------------------------------------------------------------------------

export {
  /** A `UserStore` plus the `close()` the contract suite calls after each test. */
  type ClosableUserStore,
  /** `{ ok: true, user }`, or `{ ok: false, reason: "taken" }` for a name taken in any case. */
  type CreateUserResult,
  /** Most results of one `UserStore.search` (50); larger limits are clamped. */
  MAX_USER_SEARCH,
  /** A stored account: decimal string `id`, `username`, `passwordHash`, `createdAt` (ms). */
  type UserRecord,
  /** Options of `UserStore.search`: `limit`, `excludeUserId`. */
  type UserSearchOptions,
  /**
   * The accounts port: `create`, `byUsername` (case-insensitive), `byId`, and `search` by
   * name prefix (ids and names only; an empty prefix finds nothing).
   */
  type UserStore,
  /** Registers the `Deno.test`s every `UserStore` backend must pass. */
  userStoreContract,
  /** What user search reveals: `id` and `username`. */
  type UserSummary,
} from "./user_store.ts";

export {
  /** `UserStore` on `node:sqlite`; `close()` closes the handle only with `closeDb`. */
  SqliteUserStore,
  /** Options of `SqliteUserStore` (`now`, `closeDb`). */
  type SqliteUserStoreOptions,
} from "./user_store_sqlite.ts";

// --- Refresh token store --------------------------------------------------------------

export {
  /** A token starting a family (session), as `insert` takes it. */
  type NewRefreshToken,
  /** A successor token for `rotate`: hash, creation and expiry; it inherits the family. */
  type NextRefreshToken,
  /** A stored refresh token (only its SHA-256 hash), with `usedAt` and `revokedAt`. */
  type RefreshTokenRecord,
  /** The refresh token port: insert, atomic rotate with reuse detection, revoke, purge. */
  type RefreshTokenStore,
  /** Registers the `Deno.test`s every `RefreshTokenStore` backend must pass. */
  refreshTokenStoreContract,
  /** What the refresh token contract needs per test: a store, two user ids, `close()`. */
  type RefreshTokenStoreFixture,
  /** Options of `revokeFamily` (`userId` scopes the revocation to its owner). */
  type RevokeFamilyOptions,
  /** `ok` with the successor, or `unknown`, `expired`, or `reused` (family revoked). */
  type RotateResult,
} from "./refresh_token_store.ts";

export {
  /** `RefreshTokenStore` on `node:sqlite`; rotation runs under `BEGIN IMMEDIATE`. */
  SqliteRefreshTokenStore,
  /** Options of `SqliteRefreshTokenStore` (`closeDb`). */
  type SqliteRefreshTokenStoreOptions,
} from "./refresh_token_store_sqlite.ts";

// --- Message store ----------------------------------------------------------------------

export {
  /** One message to store: conversation, caller-assigned `seq`, sender, `clientMsgId`, content. */
  type AppendItem,
  /**
   * Outcome of one appended item: `stored`, `duplicate` (the original), `seq_conflict`
   * (stale writer), `seq_gap` (re-send with `expectedSeq`), `unknown_conversation`,
   * `not_member`, `invalid`.
   */
  type AppendResult,
  /** A conversation in a user's change log, with its current seqs and watermarks. */
  type ChangeEntry,
  /** A page of the change log: `changes`, `cursor` for the next call, `hasMore`, `reset`. */
  type ChangesPage,
  /** `"direct"` or `"group"`. */
  type ConversationKind,
  /** What a conversation actor loads: kind, `lastSeq`, members with watermarks. */
  type ConversationRecord,
  /** Where the next `conversationsOf` page starts: `activityAt` + `conversationId`. */
  type ConversationsCursor,
  /** Options of `conversationsOf`: `limit`, `before`. */
  type ConversationsOfOptions,
  /** A page of a user's conversation list, most recent activity first. */
  type ConversationsPage,
  /** One row of the conversation list: seqs, unread count, last message, peer. */
  type ConversationSummary,
  /**
   * The direct conversation id of two users, `d:<smaller>:<larger>` compared as integers.
   * Throws `TypeError` for a malformed id, `RangeError` for one user twice.
   */
  directConversationId,
  /** `{ ok: true, conversationId, created }` or `self` / `unknown_user`. */
  type EnsureDirectResult,
  /** Most items of one `appendBatch` (5000); more is a `RangeError`. */
  MAX_APPEND_BATCH,
  /** Largest `changesSince` page (500). */
  MAX_CHANGES_PAGE,
  /** Longest `clientMsgId` the store accepts (128). */
  MAX_CLIENT_MSG_ID_LENGTH,
  /** Largest `conversationsOf` page (200). */
  MAX_CONVERSATIONS_PAGE,
  /** Largest message page (200). */
  MAX_MESSAGE_PAGE,
  /** A member's `deliveredSeq` and `readSeq` (`bigint`), and when they joined. */
  type MemberState,
  /** A message body: protocol `type`, optional `text`, `data`, `customType`. */
  type MessageContent,
  /** A page of messages, ascending by seq, with `hasMore`. */
  type MessagePage,
  /**
   * The conversations and messages port: direct conversations, group-commit appends with
   * idempotency and seq fencing, pages, watermarks, the per-user change log, the
   * conversation list.
   */
  type MessageStore,
  /** Range of a message page: `afterSeq < seq < beforeSeq`, `limit`. */
  type PageOptions,
  /** The two user ids of a canonical direct conversation id, or `undefined`. */
  parseDirectConversationId,
  /** A member's watermarks after a receipt (`changed`), or `not_member`. */
  type SetWatermarkResult,
  /** A stored message: `messageId` (decimal string), `seq` (`bigint`), sender, content, time. */
  type StoredMessage,
  /** `"delivered"` or `"read"`. */
  type WatermarkKind,
} from "./message_store.ts";

export {
  /** Registers the `Deno.test`s every `MessageStore` backend must pass. */
  messageStoreContract,
  /** What the message store contract needs: a store, `createUser`, and two test hooks. */
  type MessageStoreFixture,
} from "./message_store_contract.ts";

export {
  /** `MessageStore` on `node:sqlite`; writes run under `BEGIN IMMEDIATE`. */
  SqliteMessageStore,
  /** Options of `SqliteMessageStore` (`closeDb`). */
  type SqliteMessageStoreOptions,
} from "./message_store_sqlite.ts";

// --- Friend store -----------------------------------------------------------------------

export {
  /** `{ ok: true, changed }` or `self` / `unknown_user`. */
  type BlockResult,
  /** A friend: `userId`, `username`, `since` (ms). */
  type Friend,
  /**
   * `pending`, `accepted` (the other had asked first), or `self` / `unknown_user` /
   * `blocked` / `already_friends` / `already_pending`.
   */
  type FriendRequestResult,
  /** Options of `friendsOf`: `limit`, `after` (a friend's user id). */
  type FriendsOfOptions,
  /** A page of friends ordered by user id, with `hasMore`. */
  type FriendsPage,
  /**
   * The friends port: requests (request, accept, decline, cancel), symmetric friendships,
   * blocks in either direction, and queries.
   */
  type FriendStore,
  /** Largest `friendsOf` page (500). */
  MAX_FRIENDS_PAGE,
  /** Default (100) and largest (500) lists of `pendingFor`. */
  PENDING_LIMITS,
  /** Options of `pendingFor`: `limit` per list. */
  type PendingForOptions,
  /** A pending request seen from one side: the other user, `createdAt`. */
  type PendingRequest,
  /** A user's pending requests: `incoming` and `outgoing`, newest first. */
  type PendingRequests,
  /** Friendship, pending requests and blocks between two users, from the first's side. */
  type Relation,
  /** `{ ok: true }` or `not_friends`. */
  type RemoveFriendResult,
  /** `{ ok: true }` or `not_found` (no such pending request). */
  type RespondResult,
  /** `{ ok: true }` or `not_blocked`. */
  type UnblockResult,
} from "./friend_store.ts";

export {
  /** Registers the `Deno.test`s every `FriendStore` backend must pass. */
  friendStoreContract,
  /** What the friend store contract needs: a store and `createUser(name)`. */
  type FriendStoreFixture,
} from "./friend_store_contract.ts";

export {
  /** `FriendStore` on `node:sqlite`; mutations run under `BEGIN IMMEDIATE`. */
  SqliteFriendStore,
  /** Options of `SqliteFriendStore` (`closeDb`). */
  type SqliteFriendStoreOptions,
} from "./friend_store_sqlite.ts";

// --- Passwords and credential rules -------------------------------------------------------

export {
  /** The production scrypt cost: N=16384, r=8, p=1. */
  DEFAULT_SCRYPT_COST,
  /** Hashes a password as `scrypt$N$r$p$saltB64$hashB64` (16-byte salt, 32-byte key). */
  hashPassword,
  /** A stored hash decoded: cost, salt and key. */
  type ParsedPasswordHash,
  /** Decodes and bounds-checks a stored hash; throws `RangeError` when malformed. */
  parsePasswordHash,
  /** scrypt cost parameters `N`, `r`, `p`. */
  type ScryptCost,
  /** Checks a password against a stored hash in constant time; `false` when wrong. */
  verifyPassword,
} from "./password.ts";

export {
  /** Length limits of usernames, passwords and device ids. */
  CREDENTIAL_LIMITS,
  /** Checks a device label: 1-128 characters, no control characters. */
  validateDeviceId,
  /** Checks a new password: 8-128 characters after NFKC normalization. */
  validatePassword,
  /** Checks a username: 3-32 of `a-z0-9_.-`, starting with a letter or digit, any case. */
  validateUsername,
  /** `{ ok: true }` or `{ ok: false, message }` with a sentence for the user. */
  type ValidationResult,
} from "./validation.ts";

// --- Signing keys and access tokens -------------------------------------------------------

export {
  /** The JWKS document served at `/.well-known/jwks.json`. */
  type Jwks,
  /** An issuer's keys: `current` (kid + non-extractable private key) signs; `resolve(kid)` verifies. */
  KeySet,
  /**
   * Loads the Ed25519 key set from a directory, creating a 0600 key file on first start
   * (race-safe across processes). Throws `SigningKeyError` for unusable or exposed files.
   */
  loadOrCreateSigningKeys,
  /** Name of the optional file of retired public keys (`{ "keys": [...] }`). */
  PREVIOUS_KEYS_FILE,
  /** A public Ed25519 JWK with `kid`, `alg: "EdDSA"`, `use: "sig"`. */
  type PublicJwk,
  /** Name of the current private key file in the key directory. */
  SIGNING_KEY_FILE,
} from "./signing_keys.ts";

export {
  /** Claims of a verified access token: `userId`, `sessionId`, `tokenId`, times in ms. */
  type AccessClaims,
  /** Anything that maps a `kid` to a verification key (a `KeySet` is one). */
  type KeyResolver,
  /** Why an access token was refused: malformed, expired, bad_signature, ... (`as const`). */
  VerifyFailure,
  /** `{ ok: true, claims }` or `{ ok: false, reason }`. */
  type VerifyResult,
} from "./access_token.ts";

// --- Auth service -------------------------------------------------------------------------

export {
  /** A token bucket per key, as login limits use it (`take(key)`). */
  type AttemptLimiter,
  /** Default lifetimes, issuer, audience and clock tolerance of `AuthService`. */
  AUTH_DEFAULTS,
  /** A refusal: `{ ok: false, code, message }`. */
  type AuthFailure,
  /**
   * Register, login, refresh (rotation + reuse detection), logout, session checks and
   * local access token verification over a `UserStore`, a `RefreshTokenStore` and a `KeySet`.
   */
  AuthService,
  /** Options of `AuthService`: stores, keys, lifetimes, issuer/audience, clock, scrypt cost. */
  type AuthServiceOptions,
  /** Outcome of `login`: tokens, or `bad_credentials` / `invalid_device_id`. */
  type LoginResult,
  /** What `logout` ends: `{ refreshToken }` or `{ sessionId, userId }`. */
  type LogoutTarget,
  /** Outcome of `refresh`: tokens, or `token_unknown` / `token_expired` / `token_reused`. */
  type RefreshResult,
  /** Outcome of `register`: the user, or `invalid_username` / `invalid_password` / `username_taken`. */
  type RegisterResult,
  /** Where revoked sessions are recorded and checked (the `RevocationList` port). */
  type SessionRevocations,
  /** Access + refresh token, their lifetimes in seconds, `userId`, `sessionId`. */
  type TokenPair,
} from "./auth_service.ts";

// --- Postgres ------------------------------------------------------------------------------

export {
  /** Default schema of flash-im's tables (`flash_im`). */
  DEFAULT_PG_SCHEMA,
  /** Names the driver's known uncatchable write-after-close error (else `undefined`). */
  knownPgDriverDefect,
  /** Connects a pool, creates the schema and applies migrations under an advisory lock. */
  openPostgres,
  /** Options of `openPostgres`: `schema`, `poolSize`, `connectTimeoutSec`, `migrate`. */
  type OpenPostgresOptions,
  /** The number of migrations applied to a schema. */
  pgSchemaVersion,
  /** A pooled Postgres client (`npm:postgres`). */
  type Sql,
} from "./postgres.ts";
export {
  /** The Postgres schema, as append-only migrations. */
  PG_MIGRATIONS,
} from "./pg_migrations.ts";
export { PgFriendStore } from "./friend_store_pg.ts";
export { PgMessageStore } from "./message_store_pg.ts";
export { PgRefreshTokenStore } from "./refresh_token_store_pg.ts";
export { PgUserStore } from "./user_store_pg.ts";

// --- Shared ephemeral state (in-memory, Redis) ---------------------------------------------

export type {
  /** Recent sends' acks by sender and client message id. */
  DedupeCache,
  /** Where users' live sessions are (expiring entries). */
  PresenceDirectory,
  /** Token-bucket configuration: `capacity`, `refillPerSec`. */
  RateLimitConfig,
  /** Token buckets per key, atomic across instances. */
  RateLimiter,
  /** `allowed`, `remaining`, `retryAfterMs`. */
  RateLimitResult,
  /** Revoked session ids, announced to every instance's listeners. */
  RevocationList,
  /** A live session's user, session, device, node and worker. */
  SessionLocation,
} from "./ephemeral.ts";
export {
  MemoryDedupeCache,
  MemoryPresenceDirectory,
  MemoryRateLimiter,
  MemoryRevocationList,
} from "./ephemeral_memory.ts";
export {
  RedisDedupeCache,
  RedisPresenceDirectory,
  RedisRateLimiter,
  RedisRevocationList,
} from "./ephemeral_redis.ts";
export {
  /** Mirrors a worker's live sessions into a `PresenceDirectory` (register, refresh, remove). */
  PresenceRegistrar,
  type PresenceRegistrarOptions,
} from "./presence_registrar.ts";
export {
  /** The embedded node's revocations: a list per worker, kept in step by a BroadcastChannel. */
  BroadcastRevocationList,
} from "./ephemeral_broadcast.ts";
export {
  /** Connects to Redis, failing fast (with the URL, password hidden) when unreachable. */
  openRedis,
  type Redis,
} from "./redis.ts";

export {
  /** A backend call past its deadline: outcome unknown, counted as unavailable. */
  BackendTimeoutError,
  /** Whether an error means Postgres or Redis is down or unreachable right now. */
  isBackendUnavailable,
  /** A promise bounded by a deadline (a stranded driver call fails instead of hanging). */
  withDeadline,
  /** A port whose async methods are bounded by a deadline. */
  withDeadlines,
} from "./unavailable.ts";

// --- Backends -------------------------------------------------------------------------------

export {
  /** The embedded or real shared-ephemeral ports of one worker. */
  type Ephemeral,
  /** Opens revocations and login limits on Redis, or the embedded equivalents. */
  openEphemeral,
  /** Opens the durable ports on SQLite or Postgres (migrating). */
  openStores,
  /** A bucket of N attempts per minute. */
  perMinute,
  /** Longest a Postgres store call may take before it fails as unavailable (10 s). */
  PG_CALL_DEADLINE_MS,
  /** Where the durable store is: the data dir, or Postgres URL, schema and pool size. */
  type StoreOptions,
  /** The durable ports on one backend, and `close()`. */
  type Stores,
} from "./backends.ts";

// --- Errors -------------------------------------------------------------------------------

export {
  /** The database schema cannot be brought up to date (newer than the code, or a step failed). */
  MigrationError,
  /** A signing key file is unreadable, malformed or readable by other users. */
  SigningKeyError,
} from "./errors.ts";
