/**
 * One token of a NATS subject from an arbitrary name: letters, digits, `_` and `-` stay,
 * every other UTF-8 byte becomes `~xx` (hex), so distinct names never share a subject and
 * no name can add tokens or wildcards.
 *
 * @module
 */

const SAFE_BYTE = /^[A-Za-z0-9_-]$/;
const SAFE_PART = /^[A-Za-z0-9_-]+$/;

/**
 * `part` as one subject token.
 *
 * @throws {TypeError} when `part` is not a non-empty string (`name` says what it was).
 */
export function subjectToken(name: string, part: string): string {
  if (typeof part !== "string" || part.length === 0) {
    throw new TypeError(`Invalid ${name}: ${JSON.stringify(part)} is not a non-empty string`);
  }
  if (SAFE_PART.test(part)) return part;
  let out = "";
  for (const byte of new TextEncoder().encode(part)) {
    const c = String.fromCharCode(byte);
    out += SAFE_BYTE.test(c) ? c : `~${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}
