/**
 * Conversation ids (opaque to clients, see the schema's conventions): a direct (1:1)
 * conversation is `d:<smaller user id>:<larger user id>`, comparing the ids as integers.
 *
 * @module
 */

const USER_ID = /^[1-9][0-9]*$/;

/**
 * The id of the direct conversation of two users: `d:<smaller>:<larger>`, comparing the ids
 * as integers (`d:9:10`, not `d:10:9`).
 *
 * @throws {TypeError} when an id is not a canonical decimal user id.
 * @throws {RangeError} when `a == b`.
 *
 * @example
 * ```ts
 * directConversationId("42", "17"); // "d:17:42"
 * ```
 */
export function directConversationId(a: string, b: string): string {
  for (const id of [a, b]) {
    if (typeof id !== "string" || !USER_ID.test(id)) {
      throw new TypeError(
        `Cannot make a direct conversation id: ${JSON.stringify(id)} is not a user id`,
      );
    }
  }
  const x = BigInt(a);
  const y = BigInt(b);
  if (x === y) {
    throw new RangeError(`Cannot make a direct conversation id: both users are ${a}`);
  }
  return x < y ? `d:${a}:${b}` : `d:${b}:${a}`;
}

/**
 * The two user ids of a direct conversation id, smaller first, or `undefined` when `id` is
 * not a canonical direct conversation id.
 *
 * @example
 * ```ts
 * parseDirectConversationId("d:17:42"); // ["17", "42"]
 * ```
 */
export function parseDirectConversationId(id: string): [string, string] | undefined {
  const match = /^d:([1-9][0-9]*):([1-9][0-9]*)$/.exec(id);
  if (match === null || BigInt(match[1]) >= BigInt(match[2])) return undefined;
  return [match[1], match[2]];
}
