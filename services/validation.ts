/**
 * Rules for what clients may choose: usernames, passwords and device labels. Each check
 * returns a value (`{ ok: false, message }` for the client) instead of throwing: a bad
 * choice is an expected failure.
 *
 * @module
 */

/** The outcome of a check; `message` is a sentence meant for the end user. */
export type ValidationResult = { readonly ok: true } | {
  readonly ok: false;
  readonly message: string;
};

/** Limits applied by the validators. */
export const CREDENTIAL_LIMITS = {
  usernameMin: 3,
  usernameMax: 32,
  passwordMin: 8,
  passwordMax: 128,
  deviceIdMax: 128,
} as const;

const OK: ValidationResult = Object.freeze({ ok: true });

/**
 * A username is 3 to 32 characters from `a-z`, `0-9`, `_`, `.` and `-`, starting with a
 * letter or a digit. Letter case is accepted and kept for display, but names are unique
 * ignoring case ("Alice" and "alice" are one account).
 */
export function validateUsername(username: string): ValidationResult {
  const { usernameMin: min, usernameMax: max } = CREDENTIAL_LIMITS;
  if (typeof username !== "string" || username.length < min || username.length > max) {
    return fail(`Username must be ${min} to ${max} characters long`);
  }
  if (!/^[a-z0-9_.-]+$/i.test(username)) {
    return fail("Username may contain only letters a-z, digits, '_', '.' and '-'");
  }
  if (!/^[a-z0-9]/i.test(username)) return fail("Username must start with a letter or a digit");
  return OK;
}

/**
 * A password is 8 to 128 characters (Unicode code points after NFKC normalization, the form
 * that is hashed). Any character is allowed, spaces included.
 */
export function validatePassword(password: string): ValidationResult {
  const { passwordMin: min, passwordMax: max } = CREDENTIAL_LIMITS;
  if (typeof password !== "string") return fail("Password must be a string");
  const length = [...password.normalize("NFKC")].length;
  if (length < min) return fail(`Password must be at least ${min} characters long`);
  if (length > max) return fail(`Password must be at most ${max} characters long`);
  return OK;
}

/** A device id is the client's label for a session: 1 to 128 characters, no control codes. */
export function validateDeviceId(deviceId: string): ValidationResult {
  const max = CREDENTIAL_LIMITS.deviceIdMax;
  if (typeof deviceId !== "string" || deviceId.length < 1 || deviceId.length > max) {
    return fail(`Device id must be 1 to ${max} characters long`);
  }
  if (/\p{Cc}/u.test(deviceId)) return fail("Device id must not contain control characters");
  return OK;
}

function fail(message: string): ValidationResult {
  return { ok: false, message };
}
