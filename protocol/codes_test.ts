import assert from "node:assert/strict";
import {
  allCloseInfo,
  allErrorInfo,
  closeBody,
  CloseCode,
  closeInfo,
  errorBody,
  errorCategory,
  ErrorCode,
  errorInfo,
} from "./codes.ts";

Deno.test("ErrorCode values are unique, in their documented ranges, and described", () => {
  const values = Object.values(ErrorCode);
  assert.equal(new Set(values).size, values.length);
  for (const info of allErrorInfo()) {
    assert.notEqual(info.category, "unknown", `${info.name} ${info.code}`);
    assert.ok(info.description.length > 10 && info.description.endsWith("."), info.name);
    assert.equal(ErrorCode[info.name as keyof typeof ErrorCode], info.code);
  }
  const categories = Object.entries(ErrorCode).map(([name, code]) => [name, errorCategory(code)]);
  assert.deepEqual(
    categories.filter(([name]) => name.startsWith("Frame")).map(([, c]) => c),
    Array(5).fill("protocol"),
  );
  assert.equal(errorCategory(ErrorCode.AuthTokenExpired), "auth");
  assert.equal(errorCategory(ErrorCode.NotMember), "messaging");
  assert.equal(errorCategory(ErrorCode.RateLimited), "limit");
  assert.equal(errorCategory(ErrorCode.Internal), "server");
});

Deno.test("CloseCode values are valid WebSocket close statuses and never error codes", () => {
  const errors = new Set<number>(Object.values(ErrorCode));
  for (const info of allCloseInfo()) {
    assert.ok(info.code === 1000 || (info.code >= 4000 && info.code <= 4099), info.name);
    assert.equal(errors.has(info.code), false, `${info.code} is both a close and an error code`);
    assert.equal(errorCategory(info.code), "unknown");
    assert.ok(info.description.endsWith("."), info.name);
  }
  assert.equal(new Set(Object.values(CloseCode)).size, Object.keys(CloseCode).length);
});

Deno.test("auth refusals distinguish expired, tampered, algorithm, key and malformed tokens", () => {
  const refusals = [
    ErrorCode.AuthTokenExpired,
    ErrorCode.AuthTokenBadSignature,
    ErrorCode.AuthTokenWrongAlgorithm,
    ErrorCode.AuthTokenUnknownKey,
    ErrorCode.AuthTokenMalformed,
  ];
  assert.equal(new Set(refusals).size, 5);
  assert.equal(errorInfo(ErrorCode.AuthTokenExpired).temporary, false);
  assert.equal(errorInfo(ErrorCode.AuthTokenUnknownKey).temporary, true);
});

Deno.test("errorInfo() classifies unknown codes by range", () => {
  assert.deepEqual(errorInfo(4321), {
    code: 4321,
    name: "Unknown",
    category: "limit",
    temporary: true,
    description: "Unknown error code.",
  });
  assert.equal(errorInfo(5999).temporary, true);
  assert.equal(errorInfo(3999).temporary, false);
  assert.equal(errorInfo(1000).category, "unknown");
  assert.equal(errorInfo(4050).category, "unknown");
  assert.equal(errorInfo(-1).category, "unknown");
  assert.equal(errorInfo(1.5).category, "unknown");
  assert.equal(errorInfo(ErrorCode.Busy).name, "Busy");
});

Deno.test("closeInfo() says which closes allow an automatic reconnect", () => {
  assert.equal(closeInfo(CloseCode.IdleTimeout).reconnect, true);
  assert.equal(closeInfo(CloseCode.SlowConsumer).reconnect, true);
  assert.equal(closeInfo(CloseCode.ServerShutdown).reconnect, true);
  assert.equal(closeInfo(CloseCode.Kicked).reconnect, false);
  assert.equal(closeInfo(CloseCode.AuthFailed).reconnect, false);
  assert.deepEqual(closeInfo(4999), {
    code: 4999,
    name: "Unknown",
    reconnect: false,
    description: "Unknown close code.",
  });
});

Deno.test("errorBody() and closeBody() take the flags and texts from the tables", () => {
  assert.deepEqual(errorBody(ErrorCode.RateLimited, { retryAfterMs: 500 }), {
    code: 4100,
    message: errorInfo(4100).description,
    temporary: true,
    retryAfterMs: 500,
  });
  assert.deepEqual(errorBody(ErrorCode.NotMember, { message: "Cannot send to conv/g:9" }), {
    code: 3001,
    message: "Cannot send to conv/g:9",
  });
  assert.deepEqual(closeBody(CloseCode.AuthFailed, { errorCode: ErrorCode.AuthTokenExpired }), {
    code: 4002,
    reason: closeInfo(4002).description,
    errorCode: 2002,
  });
});
