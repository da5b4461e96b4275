import assert from "node:assert/strict";
import { jsonLogger, LogLevel, nullLogger } from "./logger.ts";

function capture(options: Parameters<typeof jsonLogger>[1] = {}) {
  const lines: string[] = [];
  const logger = jsonLogger((line) => lines.push(line), { now: () => 0, ...options });
  return { lines, logger, entries: () => lines.map((line) => JSON.parse(line)) };
}

Deno.test("LogLevel orders levels by severity", () => {
  assert.ok(LogLevel.debug < LogLevel.info);
  assert.ok(LogLevel.info < LogLevel.warn);
  assert.ok(LogLevel.warn < LogLevel.error);
});

Deno.test("nullLogger discards everything", () => {
  assert.equal(nullLogger.log("error", "x", { a: 1 }), undefined);
});

Deno.test("jsonLogger() writes one JSON line per entry with time, level, message and fields", () => {
  const { lines, logger, entries } = capture({ now: () => Date.UTC(2024, 0, 2, 3, 4, 5, 6) });
  logger.log("warn", "Mailbox full", { actor: "user/42", queued: 3 });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.deepEqual(entries()[0], {
    t: "2024-01-02T03:04:05.006Z",
    level: "warn",
    msg: "Mailbox full",
    actor: "user/42",
    queued: 3,
  });
});

Deno.test("jsonLogger() drops entries below the min level (default info)", () => {
  const { logger, entries } = capture();
  for (const level of ["debug", "info", "warn", "error"] as const) logger.log(level, level);
  assert.deepEqual(entries().map((e) => e.level), ["info", "warn", "error"]);

  const warn = capture({ minLevel: "warn" });
  for (const level of ["debug", "info", "warn", "error"] as const) warn.logger.log(level, level);
  assert.deepEqual(warn.entries().map((e) => e.msg), ["warn", "error"]);

  const debug = capture({ minLevel: "debug" });
  debug.logger.log("debug", "d");
  assert.equal(debug.lines.length, 1);
});

Deno.test("jsonLogger() adds base fields; entry fields override them", () => {
  const { logger, entries } = capture({ base: { worker: 1, node: "n1" } });
  logger.log("info", "a");
  logger.log("info", "b", { worker: 2 });
  assert.deepEqual(entries().map((e) => [e.node, e.worker]), [["n1", 1], ["n1", 2]]);
});

Deno.test("jsonLogger() serializes errors as name and message, nested too", () => {
  const { logger, entries } = capture();
  const error = new RangeError("bad value");
  logger.log("error", "Actor failed", { error, detail: { inner: new TypeError("t") } });
  const [entry] = entries();
  assert.deepEqual(entry.error, { name: "RangeError", message: "bad value" });
  assert.deepEqual(entry.detail, { inner: { name: "TypeError", message: "t" } });
  // No stack trace leaks into the log line.
  assert.equal(entry.error.stack, undefined);
});

Deno.test("jsonLogger() serializes bigints as strings", () => {
  const { logger, entries } = capture();
  logger.log("info", "big", { seq: 12345678901234567890n });
  assert.equal(entries()[0].seq, "12345678901234567890");
});
