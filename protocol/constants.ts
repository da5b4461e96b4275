/**
 * Protocol constants: the version, size limits and default timings. The server announces the
 * timings it actually uses in `AuthOk`; these are the defaults both sides assume.
 *
 * @module
 */

/** The protocol version of this schema (`Auth.protocol_version`, `AuthOk.protocol_version`). */
export const PROTOCOL_VERSION = 1;

/** Default largest frame body in bytes (the length prefix's value): 64 KiB. */
export const DEFAULT_MAX_FRAME = 65536;

/** The largest `maxFrameSize` a codec accepts (1 GiB); the prefix itself could say 4 GiB. */
export const MAX_FRAME_LIMIT = 2 ** 30;

/** Default deadline for the first frame (the `Auth` REQUEST) after a connection opens. */
export const DEFAULT_AUTH_TIMEOUT_MS = 10_000;

/** Default `AuthOk.heartbeat_interval_ms`: a side that sent nothing for this long sends PING. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 30_000;

/** Default `AuthOk.idle_timeout_ms`: a connection silent for this long is closed. */
export const DEFAULT_IDLE_TIMEOUT_MS = 90_000;

/** Longest user id, conversation id or device id, in UTF-8 bytes. */
export const MAX_ID_BYTES = 128;

/** Longest `SendMessage.client_msg_id`, in UTF-8 bytes. */
export const MAX_CLIENT_MSG_ID_BYTES = 64;

/**
 * Largest message content (`text` or `data` plus `custom_type`), in bytes. Kept well under
 * {@link DEFAULT_MAX_FRAME} so a stored message always fits in a `MessageNotify` frame.
 */
export const MAX_CONTENT_BYTES = 32 * 1024;
