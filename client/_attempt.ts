/**
 * One connection attempt and how it ended: which close wins (the server's `Close`, ours,
 * the transport's), and why a handshake failed. Private to `client/`.
 *
 * @module
 */

import {
  type Close,
  CloseCode,
  closeInfo,
  type ErrorBody,
  ProtocolError,
} from "../protocol/mod.ts";
import type { Deferred } from "./_deferred.ts";
import type { CloseEvent } from "./connection_types.ts";
import { AuthError, ConnectionClosedError, type RequestTimeoutError } from "./errors.ts";
import type { Transport, TransportCloseInfo } from "./transport.ts";

/** One connection attempt: a transport (once opened) and what happened on it. */
export interface Attempt {
  readonly abort: AbortController;
  /** Resolved when the attempt holds nothing any more (no socket, no pending connect). */
  readonly released: Deferred<void>;
  transport?: Transport;
  authId: number;
  opened: boolean;
  serverClose?: Close;
  authError?: ErrorBody;
  localClose?: { code: number; reason: string; network: boolean };
  /** Set when the handshake timed out. */
  failure?: RequestTimeoutError;
}

/** A close event before the reconnect decision; `network` = no close code was given. */
export type CloseRecord = Omit<CloseEvent, "willReconnect" | "error"> & {
  readonly network: boolean;
};

/** WebSocket's "closed abnormally": the network failed without a close code. */
export const ABNORMAL_CLOSE = 1006;

/** What closed the transport, by priority: the server's Close, ours, the transport's. */
export function closeRecord(attempt: Attempt, info: TransportCloseInfo): CloseRecord {
  const server = attempt.serverClose;
  if (server) {
    return {
      code: server.code ?? 0,
      reason: server.reason ?? "",
      errorCode: server.errorCode ?? 0,
      retryAfterMs: server.retryAfterMs ?? 0,
      local: false,
      network: false,
    };
  }
  const local = attempt.localClose;
  if (local) return { ...local, errorCode: 0, retryAfterMs: 0, local: true };
  const code = info.code;
  if (code !== undefined && (code === CloseCode.Normal || (code >= 4000 && code <= 4999))) {
    const errorCode = info.error instanceof ProtocolError ? info.error.code : 0;
    return {
      code,
      reason: info.reason ?? "",
      errorCode,
      retryAfterMs: 0,
      local: info.local,
      network: false,
    };
  }
  const reason = info.error instanceof Error
    ? info.error.message
    : info.reason || "The connection was lost";
  return {
    code: ABNORMAL_CLOSE,
    reason,
    errorCode: 0,
    retryAfterMs: 0,
    local: info.local,
    network: true,
  };
}

/** Why an attempt failed before `AuthOk`, and whether another attempt makes sense. */
export function handshakeFailure(
  attempt: Attempt,
  record: CloseRecord,
  info: TransportCloseInfo,
): { error: Error; retry: boolean } {
  if (attempt.failure) return { error: attempt.failure, retry: true };
  const body = attempt.authError;
  const close = attempt.serverClose;
  if (body || close) {
    const code = body?.code || close?.errorCode || 0;
    const closeCode = close?.code ?? 0;
    const detail = body?.message || close?.reason || "refused";
    const error = new AuthError(
      `Cannot authenticate: ${detail} (error ${code}, close ${closeCode})`,
      {
        code,
        closeCode,
        temporary: body?.temporary ?? undefined,
        retryAfterMs: body?.retryAfterMs || close?.retryAfterMs || 0,
      },
    );
    // An answered refusal reconnects only if its close code says so.
    return { error, retry: close !== undefined && closeInfo(closeCode).reconnect };
  }
  const shown = record.reason ? `${record.code} ${record.reason}` : `${record.code}`;
  const error = new ConnectionClosedError(
    `Cannot authenticate: the connection closed (${shown})`,
    record.code,
    { cause: info.error },
  );
  return { error, retry: record.network || closeInfo(record.code).reconnect };
}
