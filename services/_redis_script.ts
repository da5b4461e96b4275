/**
 * A Lua script run by its SHA1 (`EVALSHA`), falling back to `EVAL` when the server does
 * not know it yet (`NOSCRIPT`: first use, a restart, `SCRIPT FLUSH`). Keeps the shared
 * ioredis client untouched (no `defineCommand` on it). Private to `services/`.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** One call of a script: its keys and arguments. */
export interface ScriptCall {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/** A Lua script and its SHA1. */
export class RedisScript {
  readonly source: string;
  readonly sha: string;

  /** Hashes `source` once; nothing is sent to a server until the first run. */
  constructor(source: string) {
    this.source = source;
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  /** Runs the script once: one round trip, two on the first use per server. */
  async run(redis: Redis, call: ScriptCall): Promise<unknown> {
    const { keys, args } = call;
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }

  /**
   * Runs the script once per call in one pipeline (one round trip) and returns the
   * results in order. When the server lacks the script, it is loaded and the whole
   * pipeline sent again, so use this only for scripts that are safe to repeat.
   *
   * @throws the first call's error, if any call failed.
   */
  async runMany(redis: Redis, calls: readonly ScriptCall[]): Promise<unknown[]> {
    if (calls.length === 0) return [];
    if (calls.length === 1) return [await this.run(redis, calls[0])];
    const send = async () => {
      const pipeline = redis.pipeline();
      for (const { keys, args } of calls) pipeline.evalsha(this.sha, keys.length, ...keys, ...args);
      return (await pipeline.exec()) ?? [];
    };
    let results = await send();
    if (results.some(([error]) => isNoScript(error))) {
      await redis.script("LOAD", this.source);
      results = await send();
    }
    return results.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }
}
