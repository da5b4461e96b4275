/**
 * The HTTP JSON API: accounts and tokens (register, login, refresh, logout) and the
 * JWKS that gateways and other services verify access tokens with.
 *
 * Every error is `{ "error": { "code": "<snake_case>", "message": "..." } }` with a
 * fitting status. Ids travel as strings. The caller's identity comes from its access
 * token only, never from a request body.
 *
 * @module
 */

import type { AuthService, KeySet } from "../services/mod.ts";
import { type HttpClient, jsonError } from "./gateway.ts";
import type { HttpHandler } from "./http_chat_api.ts";

/** Largest accepted request body. */
export const MAX_JSON_BODY = 16 * 1024;

/** The auth and keys the API serves. */
export interface HttpApiDeps {
  readonly auth: Pick<
    AuthService,
    "register" | "login" | "refresh" | "logout" | "verifyAccessToken"
  >;
  readonly keys: Pick<KeySet, "publicJwks">;
}

/** Result of reading a JSON body: the object, or the error response to send. */
export type JsonBody = { ok: true; value: Record<string, unknown> } | {
  ok: false;
  response: Response;
};

/**
 * Builds the API's request handler; it returns `undefined` for paths it does not serve.
 *
 * @example
 * ```ts
 * const api = httpApi({ auth, keys });
 * const response = await api(request) ?? new Response("Not found", { status: 404 });
 * ```
 */
export function httpApi(deps: HttpApiDeps): HttpHandler {
  const routes: Record<string, (request: Request, client?: HttpClient) => Promise<Response>> = {
    "GET /.well-known/jwks.json": () =>
      Promise.resolve(Response.json(deps.keys.publicJwks(), {
        headers: { "cache-control": "public, max-age=300" },
      })),
    "POST /v1/auth/register": async (request) => {
      const body = await readJson(request);
      if (!body.ok) return body.response;
      const result = await deps.auth.register(
        text(body.value.username),
        text(body.value.password),
      );
      if (!result.ok) {
        return jsonError(result.code === "username_taken" ? 409 : 400, result.code, result.message);
      }
      return Response.json({ user: result.user }, { status: 201 });
    },
    "POST /v1/auth/login": async (request, client) => {
      const body = await readJson(request);
      if (!body.ok) return body.response;
      const result = await deps.auth.login(
        text(body.value.username),
        text(body.value.password),
        text(body.value.deviceId),
        { address: client?.address },
      );
      if (!result.ok && result.code === "rate_limited") {
        const response = jsonError(429, result.code, result.message);
        response.headers.set("retry-after", String(Math.ceil(result.retryAfterMs / 1000)));
        return response;
      }
      if (!result.ok) {
        return jsonError(
          result.code === "bad_credentials" ? 401 : 400,
          result.code,
          result.message,
        );
      }
      return Response.json(result.tokens);
    },
    "POST /v1/auth/refresh": async (request) => {
      const body = await readJson(request);
      if (!body.ok) return body.response;
      const result = await deps.auth.refresh(text(body.value.refreshToken));
      if (!result.ok) return jsonError(401, result.code, result.message);
      return Response.json(result.tokens);
    },
    "POST /v1/auth/logout": async (request) => {
      const body = await readJson(request);
      if (!body.ok) return body.response;
      if (typeof body.value.refreshToken === "string") {
        await deps.auth.logout({ refreshToken: body.value.refreshToken });
        return new Response(null, { status: 204 });
      }
      // Without a refresh token, the bearer access token names the session to end.
      const token = bearer(request);
      if (token === undefined) {
        return jsonError(
          400,
          "invalid_request",
          "Give a refreshToken or an Authorization bearer token",
        );
      }
      const verified = await deps.auth.verifyAccessToken(token);
      if (!verified.ok) return jsonError(401, `token_${verified.reason}`, "Access token refused");
      await deps.auth.logout({
        sessionId: verified.claims.sessionId,
        userId: verified.claims.userId,
      });
      return new Response(null, { status: 204 });
    },
  };
  return async (request, client) => {
    const url = new URL(request.url);
    const route = routes[`${request.method} ${url.pathname}`];
    if (route) return await route(request, client);
    const known = Object.keys(routes).some((key) => key.endsWith(` ${url.pathname}`));
    return known
      ? jsonError(405, "method_not_allowed", `${request.method} is not allowed here`)
      : undefined;
  };
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** The token of an `Authorization: Bearer <token>` header, if there is one. */
export function bearer(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  return match?.[1];
}

/** Reads a JSON object body within {@link MAX_JSON_BODY}, never buffering more. */
export async function readJson(request: Request): Promise<JsonBody> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("application/json")) {
    return {
      ok: false,
      response: jsonError(415, "unsupported_media_type", "Send Content-Type: application/json"),
    };
  }
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_JSON_BODY) return { ok: false, response: tooLarge() };
  const reader = request.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (reader) {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > MAX_JSON_BODY) {
        await reader.cancel();
        return { ok: false, response: tooLarge() };
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (error) {
    return {
      ok: false,
      response: jsonError(
        400,
        "invalid_json",
        `Body is not valid JSON: ${(error as Error).message}`,
      ),
    };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, response: jsonError(400, "invalid_json", "Body must be a JSON object") };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function tooLarge(): Response {
  return jsonError(413, "payload_too_large", `Body exceeds ${MAX_JSON_BODY} bytes`);
}
