import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { AuthService, type AuthServiceOptions, type TokenPair } from "./auth_service.ts";
import { parsePasswordHash, type ScryptCost } from "./password.ts";
import { SqliteRefreshTokenStore } from "./refresh_token_store_sqlite.ts";
import { KeySet } from "./signing_keys.ts";
import { openSqlite } from "./sqlite.ts";
import { SQLITE_MIGRATIONS } from "./sqlite_migrations.ts";
import { SqliteUserStore } from "./user_store_sqlite.ts";

const FAST: ScryptCost = { N: 1024, r: 8, p: 1 };
const T0 = 1_700_000_000_000;
const DAY = 24 * 3600 * 1000;
const keys = await KeySet.generate();

/** A service on a fresh in-memory database, with a clock the test moves by hand. */
function setup(options: Partial<AuthServiceOptions> = {}) {
  const db = openSqlite(":memory:", SQLITE_MIGRATIONS);
  const clock = { now: T0 };
  const auth = new AuthService({
    users: new SqliteUserStore(db, { now: () => clock.now }),
    refreshTokens: new SqliteRefreshTokenStore(db),
    keys,
    passwordCost: FAST,
    now: () => clock.now,
    ...options,
  });
  return { auth, db, clock, [Symbol.dispose]: () => db.close() };
}

async function loggedIn(auth: AuthService, device = "laptop"): Promise<TokenPair> {
  const registered = await auth.register("alice", "correct horse");
  assert.ok(registered.ok || registered.code === "username_taken");
  const login = await auth.login("alice", "correct horse", device);
  assert.ok(login.ok);
  return login.tokens;
}

Deno.test("AuthService.register() creates an account with an scrypt hash", async () => {
  using t = setup();
  const result = await t.auth.register("Alice", "correct horse");
  assert.ok(result.ok);
  assert.match(result.user.id, /^[1-9][0-9]*$/);
  assert.equal(result.user.username, "Alice");
  const row = t.db.prepare("SELECT password_hash FROM users").get() as { password_hash: string };
  assert.equal(parsePasswordHash(row.password_hash).N, FAST.N);
  assert.equal(row.password_hash.includes("correct horse"), false);
});

Deno.test("AuthService.register() reports invalid usernames and passwords", async () => {
  using t = setup();
  assert.deepEqual(await t.auth.register("al", "correct horse"), {
    ok: false,
    code: "invalid_username",
    message: "Username must be 3 to 32 characters long",
  });
  const bad = await t.auth.register("_alice", "correct horse");
  assert.equal(!bad.ok && bad.code, "invalid_username");
  assert.deepEqual(await t.auth.register("alice", "short"), {
    ok: false,
    code: "invalid_password",
    message: "Password must be at least 8 characters long",
  });
});

Deno.test("AuthService.register() refuses a taken username in any letter case", async () => {
  using t = setup();
  assert.ok((await t.auth.register("alice", "correct horse")).ok);
  for (const name of ["alice", "ALICE", "Alice"]) {
    const result = await t.auth.register(name, "other password");
    assert.equal(!result.ok && result.code, "username_taken", name);
  }
  const racing = await Promise.all([
    t.auth.register("bob", "password1"),
    t.auth.register("BOB", "password2"),
  ]);
  assert.deepEqual(racing.map((r) => r.ok).sort(), [false, true]);
});

Deno.test("AuthService.login() issues an EdDSA access token and a refresh token", async () => {
  using t = setup();
  const tokens = await loggedIn(t.auth);
  assert.equal(tokens.expiresIn, 900);
  assert.equal(tokens.refreshExpiresIn, 30 * 24 * 3600);
  assert.match(tokens.refreshToken, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(decodeProtectedHeader(tokens.accessToken), {
    alg: "EdDSA",
    kid: keys.current.kid,
    typ: "at+jwt",
  });
  const claims = decodeJwt(tokens.accessToken);
  assert.deepEqual(claims, {
    sub: tokens.userId,
    sid: tokens.sessionId,
    jti: claims.jti,
    iat: T0 / 1000,
    exp: T0 / 1000 + 900,
    iss: "flash-im",
    aud: "flash-im",
  });
  assert.equal(typeof claims.jti, "string");
  const verified = await t.auth.verifyAccessToken(tokens.accessToken);
  assert.ok(verified.ok);
  assert.equal(verified.claims.userId, tokens.userId);
  assert.equal(verified.claims.sessionId, tokens.sessionId);
  assert.equal(verified.claims.expiresAt, T0 + 900_000);
});

Deno.test("AuthService.login() stores only the SHA-256 of the refresh token", async () => {
  using t = setup();
  const tokens = await loggedIn(t.auth, "phone");
  const rows = t.db.prepare("SELECT * FROM refresh_tokens").all();
  assert.equal(rows.length, 1);
  assert.equal(rows[0].token_hash, createHash("sha256").update(tokens.refreshToken).digest("hex"));
  assert.equal(rows[0].device_id, "phone");
  assert.equal(
    JSON.stringify(rows, (_, v) => typeof v === "bigint" ? String(v) : v).includes(
      tokens.refreshToken,
    ),
    false,
  );
});

Deno.test("AuthService.login() finds the account ignoring letter case", async () => {
  using t = setup();
  await t.auth.register("Alice", "correct horse");
  assert.ok((await t.auth.login("aLICE", "correct horse", "d")).ok);
});

Deno.test("AuthService.login() answers an unknown user and a wrong password alike", async () => {
  using t = setup();
  await t.auth.register("alice", "correct horse");
  const wrong = await t.auth.login("alice", "wrong horse", "d");
  const unknown = await t.auth.login("mallory", "correct horse", "d");
  const absurd = await t.auth.login("x".repeat(10_000), "correct horse", "d");
  assert.deepEqual(wrong, {
    ok: false,
    code: "bad_credentials",
    message: "Wrong username or password",
  });
  assert.deepEqual(unknown, wrong);
  assert.deepEqual(absurd, wrong);
  assert.equal(t.db.prepare("SELECT count(*) AS n FROM refresh_tokens").get()?.n, 0);
});

Deno.test("AuthService.login() rejects a bad device id", async () => {
  using t = setup();
  await t.auth.register("alice", "correct horse");
  const result = await t.auth.login("alice", "correct horse", "");
  assert.equal(!result.ok && result.code, "invalid_device_id");
});

Deno.test("AuthService.refresh() rotates: a new pair in the same session, the old token spent", async () => {
  using t = setup();
  const first = await loggedIn(t.auth);
  t.clock.now += 60_000;
  const refreshed = await t.auth.refresh(first.refreshToken);
  assert.ok(refreshed.ok);
  assert.equal(refreshed.tokens.sessionId, first.sessionId);
  assert.equal(refreshed.tokens.userId, first.userId);
  assert.notEqual(refreshed.tokens.refreshToken, first.refreshToken);
  const verified = await t.auth.verifyAccessToken(refreshed.tokens.accessToken);
  assert.ok(verified.ok);
  assert.equal(verified.claims.expiresAt, T0 + 60_000 + 900_000);
  assert.equal(await t.auth.isSessionActive(first.sessionId), true);
});

Deno.test("AuthService.refresh() of a reused token revokes the whole session", async () => {
  using t = setup();
  const first = await loggedIn(t.auth);
  const other = await loggedIn(t.auth, "phone");
  const second = await t.auth.refresh(first.refreshToken);
  assert.ok(second.ok);
  // A thief replays the old token: the session ends for everyone holding its tokens.
  const replay = await t.auth.refresh(first.refreshToken);
  assert.equal(!replay.ok && replay.code, "token_reused");
  const legit = await t.auth.refresh(second.tokens.refreshToken);
  assert.equal(!legit.ok && legit.code, "token_reused");
  assert.equal(await t.auth.isSessionActive(first.sessionId), false);
  // The user's other session is untouched.
  assert.ok((await t.auth.refresh(other.refreshToken)).ok);
});

Deno.test("AuthService.refresh() reports expiry, and each rotation renews the lifetime", async () => {
  using t = setup();
  const first = await loggedIn(t.auth);
  t.clock.now = T0 + 20 * DAY;
  const second = await t.auth.refresh(first.refreshToken);
  assert.ok(second.ok);
  t.clock.now = T0 + 49 * DAY;
  const third = await t.auth.refresh(second.tokens.refreshToken);
  assert.ok(third.ok);
  t.clock.now = T0 + 79 * DAY + 1;
  const late = await t.auth.refresh(third.tokens.refreshToken);
  assert.deepEqual(late, {
    ok: false,
    code: "token_expired",
    message: "Refresh token has expired; log in again",
  });
  assert.equal(await t.auth.isSessionActive(first.sessionId), false);
});

Deno.test("AuthService.refresh() reports unknown for garbage and never-issued tokens", async () => {
  using t = setup();
  for (const token of ["", "garbage", "A".repeat(43)]) {
    const result = await t.auth.refresh(token);
    assert.equal(!result.ok && result.code, "token_unknown", token);
  }
});

Deno.test("AuthService.logout() by refresh token ends the session", async () => {
  using t = setup();
  const tokens = await loggedIn(t.auth);
  assert.deepEqual(await t.auth.logout({ refreshToken: tokens.refreshToken }), { revoked: true });
  assert.deepEqual(await t.auth.logout({ refreshToken: tokens.refreshToken }), { revoked: false });
  assert.deepEqual(await t.auth.logout({ refreshToken: "garbage" }), { revoked: false });
  assert.equal(await t.auth.isSessionActive(tokens.sessionId), false);
  const result = await t.auth.refresh(tokens.refreshToken);
  assert.equal(!result.ok && result.code, "token_reused");
});

Deno.test("AuthService.logout() by session id only ends the owner's session", async () => {
  using t = setup();
  const tokens = await loggedIn(t.auth);
  assert.deepEqual(await t.auth.logout({ sessionId: tokens.sessionId, userId: "999" }), {
    revoked: false,
  });
  assert.equal(await t.auth.isSessionActive(tokens.sessionId), true);
  assert.deepEqual(await t.auth.logout({ sessionId: tokens.sessionId, userId: tokens.userId }), {
    revoked: true,
  });
  assert.equal(await t.auth.isSessionActive(tokens.sessionId), false);
});

Deno.test("AuthService.logoutEverywhere() ends every session of the user", async () => {
  using t = setup();
  const a = await loggedIn(t.auth, "laptop");
  const b = await loggedIn(t.auth, "phone");
  assert.equal(await t.auth.logoutEverywhere(a.userId), 2);
  assert.equal(await t.auth.isSessionActive(a.sessionId), false);
  assert.equal(await t.auth.isSessionActive(b.sessionId), false);
});

Deno.test("AuthService.verifyAccessToken() reports expired with the injected clock", async () => {
  using t = setup();
  const tokens = await loggedIn(t.auth);
  t.clock.now = T0 + 900_000 + 4_000;
  assert.equal((await t.auth.verifyAccessToken(tokens.accessToken)).ok, true);
  t.clock.now = T0 + 900_000 + 6_000;
  assert.deepEqual(await t.auth.verifyAccessToken(tokens.accessToken), {
    ok: false,
    reason: "expired",
  });
});

Deno.test("AuthService.verifyAccessToken() refuses other audiences and other issuers' keys", async () => {
  using t = setup();
  const tokens = await loggedIn(t.auth);
  using other = setup({ audience: "another-app" });
  assert.deepEqual(await other.auth.verifyAccessToken(tokens.accessToken), {
    ok: false,
    reason: "invalid_claims",
  });
  using stranger = setup({ keys: await KeySet.generate() });
  assert.deepEqual(await stranger.auth.verifyAccessToken(tokens.accessToken), {
    ok: false,
    reason: "unknown_key",
  });
  assert.deepEqual(await t.auth.verifyAccessToken("garbage"), { ok: false, reason: "malformed" });
});

Deno.test("AuthService rejects invalid lifetimes and scrypt cost", () => {
  using t = setup();
  const base = {
    users: new SqliteUserStore(t.db),
    refreshTokens: new SqliteRefreshTokenStore(t.db),
    keys,
  };
  assert.throws(() => new AuthService({ ...base, accessTtlSec: 0 }), RangeError);
  assert.throws(() => new AuthService({ ...base, refreshTtlSec: 1.5 }), RangeError);
  assert.throws(() => new AuthService({ ...base, clockToleranceSec: -1 }), RangeError);
  assert.throws(
    () => new AuthService({ ...base, passwordCost: { N: 1000, r: 8, p: 1 } }),
    RangeError,
  );
});

/** A `SessionRevocations` in a map, recording what it was told. */
function revocationLog() {
  const revoked = new Map<string, { userId: string; untilMs: number }>();
  return {
    revoked,
    revoke: (
      { userId, sessionId, untilMs }: { userId: string; sessionId: string; untilMs: number },
    ) => {
      revoked.set(sessionId, { userId, untilMs });
      return Promise.resolve();
    },
    isRevoked: (sessionId: string) => Promise.resolve(revoked.has(sessionId)),
  };
}

Deno.test("AuthService.logout() revokes the session's access tokens too, until they expire", async () => {
  const log = revocationLog();
  using t = setup({ revocations: log, accessTtlSec: 600 });
  const tokens = await loggedIn(t.auth);
  const other = await loggedIn(t.auth, "phone");
  assert.ok((await t.auth.verifyAccessToken(tokens.accessToken)).ok);
  assert.deepEqual(await t.auth.logout({ refreshToken: tokens.refreshToken }), { revoked: true });
  assert.deepEqual(await t.auth.verifyAccessToken(tokens.accessToken), {
    ok: false,
    reason: "revoked",
  });
  // Until the access token's expiry plus the clock tolerance (5 s), no longer.
  assert.deepEqual(log.revoked.get(tokens.sessionId), {
    userId: tokens.userId,
    untilMs: T0 + 605_000,
  });
  // The other session is untouched.
  assert.ok((await t.auth.verifyAccessToken(other.accessToken)).ok);
  // By session id (bearer logout), even when its refresh tokens are already gone.
  await t.auth.logout({ sessionId: other.sessionId, userId: other.userId });
  assert.equal((await t.auth.verifyAccessToken(other.accessToken)).ok, false);
});

Deno.test("AuthService.refresh() of a reused token revokes the session's access tokens", async () => {
  const log = revocationLog();
  using t = setup({ revocations: log });
  const first = await loggedIn(t.auth);
  const second = await t.auth.refresh(first.refreshToken);
  assert.ok(second.ok);
  assert.ok((await t.auth.verifyAccessToken(second.tokens.accessToken)).ok);
  assert.equal((await t.auth.refresh(first.refreshToken)).ok, false);
  assert.deepEqual(await t.auth.verifyAccessToken(second.tokens.accessToken), {
    ok: false,
    reason: "revoked",
  });
  assert.deepEqual([...log.revoked.keys()], [first.sessionId]);
});

/** A bucket per key that allows `n` takes, and records the keys. */
function countingLimiter(n: number) {
  const used = new Map<string, number>();
  return {
    used,
    take: (key: string) => {
      const count = (used.get(key) ?? 0) + 1;
      used.set(key, count);
      return Promise.resolve({ allowed: count <= n, retryAfterMs: 30_000 });
    },
  };
}

Deno.test("AuthService.login() is limited per account and per address, before any password check", async () => {
  const perAccount = countingLimiter(3);
  const perAddress = countingLimiter(5);
  using t = setup({ loginLimits: { perAccount, perAddress } });
  await loggedIn(t.auth); // one attempt for alice, from no address
  for (let i = 0; i < 2; i++) {
    const wrong = await t.auth.login("alice", "wrong password", "laptop", { address: "10.0.0.1" });
    assert.equal(!wrong.ok && wrong.code, "bad_credentials");
  }
  // The account's bucket is empty: even the right password is refused, with a retry time.
  const limited = await t.auth.login("ALICE", "correct horse", "laptop", { address: "10.0.0.2" });
  assert.deepEqual(limited, {
    ok: false,
    code: "rate_limited",
    message: "Too many login attempts; retry in 30 s",
    retryAfterMs: 30_000,
  });
  // One address trying many accounts runs out too, without touching the accounts' buckets.
  for (let i = 0; i < 3; i++) {
    await t.auth.login(`user${i}`, "x".repeat(10), "d", { address: "10.0.0.1" });
  }
  const flood = await t.auth.login("bob", "x".repeat(10), "d", { address: "10.0.0.1" });
  assert.equal(!flood.ok && flood.code, "rate_limited");
  assert.equal(perAccount.used.get("account:bob"), undefined);
  assert.equal(perAddress.used.get("address:10.0.0.1"), 6);
});
