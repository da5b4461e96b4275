import assert from "node:assert/strict";
import {
  ActorFailedError,
  AskTimeoutError,
  DeadLetterError,
  fromErrorData,
  MailboxFullError,
  ServiceBusyError,
  ServiceTimeoutError,
  ServiceUnavailableError,
  ShutdownError,
  toErrorData,
} from "./errors.ts";

const RUNTIME_ERRORS = [
  AskTimeoutError,
  MailboxFullError,
  DeadLetterError,
  ActorFailedError,
  ShutdownError,
] as const;

Deno.test("runtime errors set their name and accept a cause", () => {
  for (const ErrorClass of RUNTIME_ERRORS) {
    const cause = new Error("root");
    const error = new ErrorClass("Something failed", { cause });
    assert.ok(error instanceof Error);
    assert.equal(error.name, ErrorClass.name);
    assert.equal(error.message, "Something failed");
    assert.equal(error.cause, cause);
    assert.match(String(error), new RegExp(`^${ErrorClass.name}: Something failed`));
  }
});

Deno.test("toErrorData() keeps only name and message", () => {
  const error = new MailboxFullError("Mailbox of user/1 is full (2)", { cause: new Error("x") });
  const data = toErrorData(error);
  assert.deepEqual(data, { name: "MailboxFullError", message: "Mailbox of user/1 is full (2)" });
  // Plain data: survives JSON and structured clone.
  assert.deepEqual(JSON.parse(JSON.stringify(data)), data);
  assert.deepEqual(structuredClone(data), data);
});

Deno.test("toErrorData() turns thrown non-errors into generic errors", () => {
  assert.deepEqual(toErrorData("boom"), { name: "Error", message: "boom" });
  assert.deepEqual(toErrorData(42), { name: "Error", message: "42" });
  assert.deepEqual(toErrorData(undefined), { name: "Error", message: "undefined" });
  assert.deepEqual(toErrorData(null), { name: "Error", message: "null" });
});

Deno.test("fromErrorData() round-trips the runtime error classes", () => {
  for (const ErrorClass of RUNTIME_ERRORS) {
    const back = fromErrorData(toErrorData(new ErrorClass("m")));
    assert.ok(back instanceof ErrorClass, ErrorClass.name);
    assert.equal(back.name, ErrorClass.name);
    assert.equal(back.message, "m");
  }
});

Deno.test("fromErrorData() rebuilds TypeError and RangeError", () => {
  const type = fromErrorData(toErrorData(new TypeError("t")));
  assert.ok(type instanceof TypeError);
  assert.equal(type.message, "t");
  const range = fromErrorData(toErrorData(new RangeError("r")));
  assert.ok(range instanceof RangeError);
  assert.equal(range.message, "r");
});

Deno.test("fromErrorData() keeps the name of unknown errors on a plain Error", () => {
  class QuotaError extends Error {
    override name = "QuotaError";
  }
  const back = fromErrorData(toErrorData(new QuotaError("over quota")));
  assert.equal(back.constructor, Error);
  assert.equal(back.name, "QuotaError");
  assert.equal(back.message, "over quota");
  const plain = fromErrorData({ name: "Error", message: "x" });
  assert.equal(plain.constructor, Error);
  assert.equal(plain.name, "Error");
});

Deno.test("fromErrorData() does not resolve names through the prototype chain", () => {
  for (const name of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    const back = fromErrorData({ name, message: "m" });
    assert.ok(back instanceof Error, name);
    assert.equal(back.name, name);
    assert.equal(back.message, "m");
  }
});

Deno.test("fromErrorData() rebuilds the service errors with their code", () => {
  const codes = [
    [ServiceUnavailableError, "SERVICE_UNAVAILABLE"],
    [ServiceTimeoutError, "SERVICE_TIMEOUT"],
    [ServiceBusyError, "SERVICE_BUSY"],
  ] as const;
  for (const [ErrorClass, code] of codes) {
    const back = fromErrorData(toErrorData(new ErrorClass("m")));
    assert.ok(back instanceof ErrorClass, ErrorClass.name);
    assert.equal(back.name, ErrorClass.name);
    assert.equal(back.message, "m");
    assert.equal((back as { code?: string }).code, code);
  }
});
