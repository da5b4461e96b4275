import assert from "node:assert/strict";
import { directConversationId, parseDirectConversationId } from "./conversation_id.ts";

Deno.test("directConversationId() puts the smaller id first, comparing as integers", () => {
  assert.equal(directConversationId("42", "17"), "d:17:42");
  assert.equal(directConversationId("17", "42"), "d:17:42");
  assert.equal(directConversationId("10", "9"), "d:9:10");
  assert.equal(
    directConversationId("9007199254740993", "9007199254740992"),
    "d:9007199254740992:9007199254740993",
  );
});

Deno.test("directConversationId() throws for malformed ids and for one user twice", () => {
  for (const [a, b] of [["01", "2"], ["x", "2"], ["", "2"], ["-1", "2"], ["1", " 2"]]) {
    assert.throws(() => directConversationId(a, b), TypeError);
  }
  assert.throws(() => directConversationId("7", "7"), RangeError);
});

Deno.test("parseDirectConversationId() reads canonical ids only", () => {
  assert.deepEqual(parseDirectConversationId("d:9:10"), ["9", "10"]);
  assert.deepEqual(parseDirectConversationId(directConversationId("5", "3")), ["3", "5"]);
  for (const id of ["d:10:9", "d:9:9", "d:09:10", "g:1", "d:1", "d:1:2:3", "x"]) {
    assert.equal(parseDirectConversationId(id), undefined, id);
  }
});
