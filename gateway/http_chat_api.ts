/**
 * The authenticated HTTP JSON API for chat: the caller's profile, user search, friends
 * (requests, friendships, blocks), the conversation list and message history.
 *
 * The caller is whoever the `Authorization: Bearer <access token>` header names, never an
 * id from a body or query. Errors are `{ "error": { "code": "<snake_case>", "message" } }`
 * (401 `unauthorized` without a token, `token_<reason>` for a refused one). Every 64-bit
 * number (seqs, unread counts, ids) is a decimal string; times are numbers (ms).
 *
 * @module
 */

import type {
  AuthService,
  ConversationSummary,
  FriendStore,
  MessageContent,
  MessageStore,
  StoredMessage,
  UserStore,
} from "../services/mod.ts";
import { parseDirectConversationId } from "../protocol/mod.ts";
import { type HttpClient, jsonError } from "./gateway.ts";
import { bearer, readJson } from "./http_api.ts";

/** What the chat API reads and changes. */
export interface HttpChatApiDeps {
  readonly auth: Pick<AuthService, "verifyAccessToken">;
  readonly users: Pick<UserStore, "byId" | "search">;
  readonly friends: FriendStore;
  readonly messages: Pick<MessageStore, "conversationsOf" | "page">;
  /**
   * Whether each user is online now (the user actors know); with it, `GET /v1/friends`
   * includes `online` for each friend.
   */
  readonly online?: (userIds: readonly string[]) => Promise<boolean[]>;
  /** Clock, ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** A request handler that answers `undefined` for paths it does not serve. */
export type HttpHandler = (
  request: Request,
  client?: HttpClient,
) => Promise<Response | undefined>;

/** Default page sizes (the stores clamp larger limits to their maxima). */
const DEFAULT_LIMITS = { users: 20, friends: 100, conversations: 50, messages: 50 } as const;
/** Largest limit a query may ask for before the store clamps it. */
const MAX_QUERY_LIMIT = 10_000;
const USER_ID = /^[1-9][0-9]*$/;
const SEQ = /^(0|[1-9][0-9]*)$/;
const MAX_U63 = (1n << 63n) - 1n;

/** A routed request: the caller's user id, the path parameters and the query. */
interface Call {
  readonly request: Request;
  readonly userId: string;
  readonly params: readonly string[];
  readonly query: URLSearchParams;
}

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly handle: (call: Call) => Promise<Response>;
}

/** A bad query or body value: answered with 400 `invalid_request`. */
class BadRequest extends Error {}

/**
 * Builds the chat API's request handler; it returns `undefined` for paths it does not
 * serve (the gateway answers 404).
 *
 * @example
 * ```ts
 * const api = httpChatApi({ auth, users, friends, messages });
 * const response = await api(request) ?? new Response("Not found", { status: 404 });
 * ```
 */
export function httpChatApi(deps: HttpChatApiDeps): HttpHandler {
  const now = deps.now ?? Date.now;
  const { friends, messages, users } = deps;
  const route = (
    method: string,
    path: string,
    handle: (call: Call) => Promise<Response>,
  ): Route => ({
    method,
    pattern: new RegExp(`^${path.replaceAll("{}", "([^/]+)")}$`),
    handle,
  });
  const noContent = () => new Response(null, { status: 204 });

  const routes: Route[] = [
    route("GET", "/v1/me", async ({ userId }) => {
      const user = await users.byId(userId);
      if (!user) return jsonError(401, "unauthorized", "The account no longer exists");
      return Response.json({ user: { id: user.id, username: user.username } });
    }),
    route("GET", "/v1/users", async ({ userId, query }) => {
      const q = query.get("q") ?? "";
      if (q === "") throw new BadRequest("Give a non-empty q (a username prefix)");
      const limit = limitParam(query, DEFAULT_LIMITS.users);
      const found = await users.search(q, { limit, excludeUserId: userId });
      return Response.json({ users: found.map((u) => ({ id: u.id, username: u.username })) });
    }),
    route("GET", "/v1/friends", async ({ userId, query }) => {
      const limit = limitParam(query, DEFAULT_LIMITS.friends);
      const after = query.get("after") ?? undefined;
      if (after !== undefined) userIdValue(after, "after");
      const page = await friends.friendsOf(userId, { limit, after });
      const online = await deps.online?.(page.friends.map((f) => f.userId));
      return Response.json({
        friends: page.friends.map((f, i) => ({
          userId: f.userId,
          username: f.username,
          since: f.since,
          ...(online ? { online: online[i] ?? false } : {}),
        })),
        hasMore: page.hasMore,
      });
    }),
    route("GET", "/v1/friends/requests", async ({ userId, query }) => {
      const limit = query.has("limit") ? limitParam(query, 1) : undefined;
      const pending = await friends.pendingFor(userId, { limit });
      const row = (r: { userId: string; username: string; createdAt: number }) => ({
        userId: r.userId,
        username: r.username,
        createdAt: r.createdAt,
      });
      return Response.json({
        incoming: pending.incoming.map(row),
        outgoing: pending.outgoing.map(row),
      });
    }),
    route("POST", "/v1/friends/requests", async ({ request, userId }) => {
      const other = await bodyUserId(request);
      if (other instanceof Response) return other;
      const result = await friends.request(userId, other, now());
      if (!result.ok) return refusal(result.reason);
      return Response.json({ status: result.status }, { status: 201 });
    }),
    route("POST", "/v1/friends/requests/{}/accept", async ({ userId, params }) => {
      const result = await friends.accept(userId, params[0]!, now());
      return result.ok ? noContent() : refusal(result.reason);
    }),
    route("POST", "/v1/friends/requests/{}/decline", async ({ userId, params }) => {
      const result = await friends.decline(userId, params[0]!, now());
      return result.ok ? noContent() : refusal(result.reason);
    }),
    route("DELETE", "/v1/friends/requests/{}", async ({ userId, params }) => {
      const result = await friends.cancel(userId, params[0]!, now());
      return result.ok ? noContent() : refusal(result.reason);
    }),
    route("DELETE", "/v1/friends/{}", async ({ userId, params }) => {
      const result = await friends.remove(userId, params[0]!);
      return result.ok ? noContent() : refusal(result.reason);
    }),
    route("POST", "/v1/blocks", async ({ request, userId }) => {
      const other = await bodyUserId(request);
      if (other instanceof Response) return other;
      const result = await friends.block(userId, other, now());
      if (!result.ok) return refusal(result.reason);
      return Response.json({ blocked: true, changed: result.changed });
    }),
    route("DELETE", "/v1/blocks/{}", async ({ userId, params }) => {
      const result = await friends.unblock(userId, params[0]!);
      return result.ok ? noContent() : refusal(result.reason);
    }),
    route("GET", "/v1/conversations", async ({ userId, query }) => {
      const limit = limitParam(query, DEFAULT_LIMITS.conversations);
      const cursor = query.get("cursor");
      const before = cursor === null ? undefined : conversationsCursor(cursor);
      const page = await messages.conversationsOf(userId, { limit, before });
      const last = page.conversations.at(-1);
      return Response.json({
        conversations: page.conversations.map(conversationJson),
        hasMore: page.hasMore,
        nextCursor: page.hasMore && last ? `${last.activityAt}.${last.conversationId}` : null,
      });
    }),
    route("GET", "/v1/conversations/{}/messages", async ({ userId, params, query }) => {
      const conversationId = params[0]!;
      const members = parseDirectConversationId(conversationId);
      if (members === undefined) {
        return jsonError(404, "not_found", `No conversation ${JSON.stringify(conversationId)}`);
      }
      if (!members.includes(userId)) {
        return jsonError(403, "not_member", "You are not a member of this conversation");
      }
      const limit = limitParam(query, DEFAULT_LIMITS.messages);
      const beforeSeq = seqParam(query, "before");
      const afterSeq = seqParam(query, "after");
      const page = await messages.page(conversationId, { limit, beforeSeq, afterSeq });
      return Response.json({ messages: page.messages.map(messageJson), hasMore: page.hasMore });
    }),
  ];

  return async (request) => {
    const url = new URL(request.url);
    const path = url.pathname;
    let matched: { route: Route; params: string[] } | undefined;
    let pathKnown = false;
    for (const candidate of routes) {
      const match = candidate.pattern.exec(path);
      if (!match) continue;
      pathKnown = true;
      if (candidate.method === request.method) {
        matched = { route: candidate, params: match.slice(1).map(decodeParam) };
        break;
      }
    }
    if (!matched) {
      return pathKnown
        ? jsonError(405, "method_not_allowed", `${request.method} is not allowed here`)
        : undefined;
    }
    const token = bearer(request);
    if (token === undefined) {
      return unauthorized("unauthorized", "Send Authorization: Bearer <access token>");
    }
    const verified = await deps.auth.verifyAccessToken(token);
    if (!verified.ok) return unauthorized(`token_${verified.reason}`, "Access token refused");
    try {
      return await matched.route.handle({
        request,
        userId: verified.claims.userId,
        params: matched.params,
        query: url.searchParams,
      });
    } catch (error) {
      if (error instanceof BadRequest) return jsonError(400, "invalid_request", error.message);
      throw error;
    }
  };
}

/**
 * Combines handlers: the first that answers (not `undefined`) wins.
 *
 * @example
 * ```ts
 * const http = firstHttpHandler(httpApi({ auth, keys }), httpChatApi(deps));
 * ```
 */
export function firstHttpHandler(
  ...handlers: readonly HttpHandler[]
): HttpHandler {
  return async (request, client) => {
    for (const handler of handlers) {
      const response = await handler(request, client);
      if (response !== undefined) return response;
    }
    return undefined;
  };
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function unauthorized(code: string, message: string): Response {
  const response = jsonError(401, code, message);
  response.headers.set("www-authenticate", "Bearer");
  return response;
}

/** The status of each store refusal (the reason is the error code). */
const REFUSAL_STATUS: Record<string, number> = {
  self: 400,
  unknown_user: 404,
  blocked: 403,
  already_friends: 409,
  already_pending: 409,
  not_found: 404,
  not_friends: 404,
  not_blocked: 404,
};

const REFUSAL_MESSAGE: Record<string, string> = {
  self: "That is you",
  unknown_user: "No such user",
  blocked: "One of you blocks the other",
  already_friends: "You are already friends",
  already_pending: "You already asked this user",
  not_found: "No such pending request",
  not_friends: "You are not friends",
  not_blocked: "You do not block this user",
};

function refusal(reason: string): Response {
  return jsonError(REFUSAL_STATUS[reason] ?? 400, reason, REFUSAL_MESSAGE[reason] ?? reason);
}

/** The `userId` of a JSON body, or the error response. */
async function bodyUserId(request: Request): Promise<string | Response> {
  const body = await readJson(request);
  if (!body.ok) return body.response;
  const value = body.value.userId;
  if (typeof value !== "string") {
    return jsonError(400, "invalid_request", "Give userId as a decimal string");
  }
  return value;
}

function limitParam(query: URLSearchParams, fallback: number): number {
  const raw = query.get("limit");
  if (raw === null) return fallback;
  if (!/^[1-9][0-9]{0,8}$/.test(raw)) {
    throw new BadRequest(`limit must be a positive integer, not ${JSON.stringify(raw)}`);
  }
  return Math.min(Number(raw), MAX_QUERY_LIMIT);
}

function seqParam(query: URLSearchParams, name: string): bigint | undefined {
  const raw = query.get(name);
  if (raw === null) return undefined;
  if (!SEQ.test(raw) || BigInt(raw) > MAX_U63) {
    throw new BadRequest(
      `${name} must be a sequence number (a decimal string), not ${JSON.stringify(raw)}`,
    );
  }
  return BigInt(raw);
}

function userIdValue(raw: string, name: string): string {
  if (!USER_ID.test(raw)) {
    throw new BadRequest(`${name} must be a user id, not ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** Reads a `nextCursor` (`<activityAt>.<conversationId>`). */
function conversationsCursor(raw: string): { activityAt: number; conversationId: string } {
  const match = /^(0|[1-9][0-9]{0,15})\.(.+)$/.exec(raw);
  if (!match) throw new BadRequest(`cursor is not a nextCursor: ${JSON.stringify(raw)}`);
  return { activityAt: Number(match[1]), conversationId: match[2]! };
}

function conversationJson(c: ConversationSummary) {
  return {
    conversationId: c.conversationId,
    kind: c.kind,
    peer: c.peer
      ? {
        userId: c.peer.userId,
        deliveredSeq: c.peer.deliveredSeq.toString(),
        readSeq: c.peer.readSeq.toString(),
      }
      : null,
    lastSeq: c.lastSeq.toString(),
    deliveredSeq: c.deliveredSeq.toString(),
    readSeq: c.readSeq.toString(),
    unread: c.unread.toString(),
    lastMessage: c.lastMessage ? messageJson(c.lastMessage) : null,
    activityAt: c.activityAt,
  };
}

function messageJson(m: StoredMessage) {
  return {
    messageId: m.messageId,
    seq: m.seq.toString(),
    senderId: m.senderId,
    clientMsgId: m.clientMsgId,
    createdAt: m.createdAt,
    content: contentJson(m.content),
  };
}

function contentJson(content: MessageContent) {
  return {
    type: content.type,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.customType !== undefined ? { customType: content.customType } : {}),
    ...(content.data !== undefined ? { dataBase64: base64(content.data) } : {}),
  };
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}
