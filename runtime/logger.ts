/**
 * The logger the runtime writes to. It is injected; the runtime never prints.
 *
 * @module
 */

/** Structured fields: ids and counts, never message bodies, passwords or tokens. */
export type LogFields = Record<string, unknown>;

/** Log levels in increasing severity. */
export const LogLevel = { debug: 10, info: 20, warn: 30, error: 40 } as const;
/** A log level name. */
export type LogLevel = keyof typeof LogLevel;

/** A structured logger. */
export interface Logger {
  log(level: LogLevel, message: string, fields?: LogFields): void;
}

/** A logger that discards everything. */
export const nullLogger: Logger = { log() {} };

/**
 * A logger that renders one JSON line per entry and hands it to `write`.
 *
 * @example
 * ```ts
 * const logger = jsonLogger((line) => lines.push(line), { minLevel: "info", base: { worker: 1 } });
 * logger.log("warn", "Mailbox full", { actor: "user/42" });
 * ```
 */
export function jsonLogger(
  write: (line: string) => void,
  options: { minLevel?: LogLevel; base?: LogFields; now?: () => number } = {},
): Logger {
  const min = LogLevel[options.minLevel ?? "info"];
  const now = options.now ?? Date.now;
  return {
    log(level, message, fields) {
      if (LogLevel[level] < min) return;
      write(JSON.stringify({
        t: new Date(now()).toISOString(),
        level,
        msg: message,
        ...options.base,
        ...fields,
      }, errorReplacer));
    },
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (typeof value === "bigint") return value.toString();
  return value;
}
