/**
 * Keeps one worker's live sessions in the {@link PresenceDirectory}: registers each session
 * when it authenticates, removes it when it closes, and refreshes them all on a timer (one
 * batched call), so the entries of a node that dies expire within the TTL. Directory
 * failures (Redis down) are logged and retried by the next refresh, never thrown at the
 * connection that triggered them.
 *
 * @module
 */

import type { PresenceDirectory, SessionLocation } from "./ephemeral.ts";

/** Options of {@link PresenceRegistrar}. */
export interface PresenceRegistrarOptions {
  readonly directory: PresenceDirectory;
  /** This node's id and this worker's index, recorded in every entry. */
  readonly node: string;
  readonly worker: number;
  /** Life of an entry without refresh. Refreshes run every third of it. Default 30 s. */
  readonly ttlMs?: number;
  /** Receives directory failures. */
  readonly onError?: (error: unknown) => void;
}

/** Default of {@link PresenceRegistrarOptions.ttlMs}. */
export const DEFAULT_PRESENCE_TTL_MS = 30_000;

/**
 * The sessions of one worker, mirrored into a presence directory.
 *
 * @example
 * ```ts
 * const registrar = new PresenceRegistrar({ directory, node: "n1", worker: 0 });
 * registrar.start();
 * registrar.attach({ userId: "7", sessionId: "n1/0/42", deviceId: "phone" });
 * ```
 */
export class PresenceRegistrar {
  readonly #options: PresenceRegistrarOptions;
  readonly #ttlMs: number;
  /** Live sessions by session id; bounded by the worker's connections. */
  readonly #sessions = new Map<string, SessionLocation>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing = false;

  /** @throws {RangeError} for a TTL that is not a positive integer. */
  constructor(options: PresenceRegistrarOptions) {
    this.#options = options;
    this.#ttlMs = options.ttlMs ?? DEFAULT_PRESENCE_TTL_MS;
    if (!Number.isInteger(this.#ttlMs) || this.#ttlMs < 3) {
      throw new RangeError(`Presence TTL ${this.#ttlMs} ms is not an integer >= 3`);
    }
  }

  /** Sessions currently held. */
  get size(): number {
    return this.#sessions.size;
  }

  /** Starts the periodic refresh. */
  start(): void {
    this.#timer ??= setInterval(() => void this.refresh(), Math.floor(this.#ttlMs / 3));
  }

  /** Stops refreshing and removes this worker's sessions from the directory. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    await Promise.all(
      sessions.map((s) =>
        this.#options.directory.unregister(s.userId, s.sessionId).catch(this.#report)
      ),
    );
  }

  /** A session authenticated here. */
  attach(session: { userId: string; sessionId: string; deviceId: string }): Promise<void> {
    const location: SessionLocation = {
      ...session,
      node: this.#options.node,
      worker: this.#options.worker,
    };
    this.#sessions.set(session.sessionId, location);
    return this.#options.directory.register(location, this.#ttlMs).catch(this.#report);
  }

  /** A session closed here. */
  detach(userId: string, sessionId: string): Promise<void> {
    if (!this.#sessions.delete(sessionId)) return Promise.resolve();
    return this.#options.directory.unregister(userId, sessionId).catch(this.#report);
  }

  /**
   * Extends every held entry in one call; entries the directory lost (expired during an
   * outage, or never written) are registered again. One refresh at a time.
   */
  async refresh(): Promise<void> {
    if (this.#refreshing || this.#sessions.size === 0) return;
    this.#refreshing = true;
    try {
      const refs = [...this.#sessions.values()].map(({ userId, sessionId }) => ({
        userId,
        sessionId,
      }));
      const gone = await this.#options.directory.refresh(refs, this.#ttlMs);
      for (const { sessionId } of gone) {
        const location = this.#sessions.get(sessionId);
        if (location !== undefined) await this.#options.directory.register(location, this.#ttlMs);
      }
    } catch (error) {
      this.#report(error);
    } finally {
      this.#refreshing = false;
    }
  }

  #report = (error: unknown): void => {
    this.#options.onError?.(error);
  };
}
