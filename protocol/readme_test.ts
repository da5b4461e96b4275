import assert from "node:assert/strict";
import { toHex } from "./_testing.ts";
import { allCloseInfo, allErrorInfo } from "./codes.ts";
import { encodeFrame } from "./framing.ts";
import { FrameKind } from "./schema.ts";
import { u64 } from "./u64.ts";

// README.md is the specification for client authors: these tests keep it true to the code.
const readme = await Deno.readTextFile(new URL("./README.md", import.meta.url));
const proto = await Deno.readTextFile(new URL("./flash_im.proto", import.meta.url));

function between(name: string): string {
  const start = readme.indexOf(`<!-- ${name}:start -->`);
  const end = readme.indexOf(`<!-- ${name}:end -->`);
  assert.ok(start >= 0 && end > start, `README.md has no ${name} markers`);
  return readme.slice(start, end);
}

/** The cells of every table row in `text` (header and separator rows excluded). */
function rows(text: string): string[][] {
  return text.split("\n")
    .filter((line) => line.startsWith("|") && !/^\|[\s|:-]+\|$/.test(line))
    .map((line) => line.slice(1, -1).split("|").map((cell) => cell.trim()))
    .slice(1);
}

/** The rows of the README section under the heading `heading` (up to the next heading). */
function sectionRows(heading: string): string[][] {
  const lines = readme.split("\n");
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `README.md has no "${heading}" section`);
  const end = lines.findIndex((line, i) => i > start && line.startsWith("#"));
  return rows(lines.slice(start, end < 0 ? undefined : end).join("\n"));
}

interface ProtoField {
  message: string;
  oneof?: string;
  label: string;
  type: string;
  name: string;
  number: number;
}

/** A small parser for the subset of proto3 the schema uses. */
function parseProto(source: string) {
  const fields: ProtoField[] = [];
  const enums = new Map<string, [string, number][]>();
  const stack: { kind: "message" | "enum" | "oneof"; name: string }[] = [];
  const path = () => stack.filter((s) => s.kind !== "oneof").map((s) => s.name).join(".");
  for (const raw of source.split("\n")) {
    const line = raw.replace(/\/\/.*$/, "").trim();
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^(message|enum|oneof) (\w+) \{/))) {
      stack.push({ kind: m[1] as "message" | "enum" | "oneof", name: m[2] });
      if (m[1] === "enum") enums.set(path(), []);
      if (line.endsWith("}")) stack.pop(); // `message Ok {}`
    } else if (line === "}") stack.pop();
    else if (stack.at(-1)?.kind === "enum" && (m = line.match(/^(\w+) = (\d+);$/))) {
      enums.get(path())!.push([m[1], Number(m[2])]);
    } else if ((m = line.match(/^(repeated )?([\w.]+) (\w+) = (\d+);$/))) {
      const top = stack.at(-1)!;
      fields.push({
        message: path(),
        oneof: top.kind === "oneof" ? top.name : undefined,
        label: m[1] ?? "",
        type: m[2],
        name: m[3],
        number: Number(m[4]),
      });
    }
  }
  const messages = new Set<string>();
  for (const match of source.matchAll(/^\s*message (\w+)/gm)) messages.add(match[1]);
  return { fields, enums, messages };
}

Deno.test("README hex example is the real encoding of the Auth frame it describes", () => {
  const hex = between("hex-example").match(/```text\n([\s\S]*?)```/)?.[1];
  assert.ok(hex, "the hex example is in a ```text block");
  const bytes = encodeFrame({
    id: u64(1),
    kind: FrameKind.REQUEST,
    auth: {
      accessToken: "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiI0MiJ9.c2ln",
      deviceId: "laptop-1",
      protocolVersion: 1,
      clientName: "flash-im-cli",
      clientVersion: "1.0.0",
    },
  });
  assert.equal(hex.replace(/\s+/g, ""), toHex(bytes));
  assert.match(readme, new RegExp(`${bytes.length}\\s+bytes,\\s+in\\s+hex`));
});

Deno.test("README error code table matches codes.ts", () => {
  const expected = allErrorInfo().map((
    e,
  ) => [String(e.code), e.name, e.category, e.temporary ? "yes" : "no", e.description]);
  assert.deepEqual(rows(between("error-codes")), expected);
});

Deno.test("README close code table matches codes.ts", () => {
  const expected = allCloseInfo().map((
    c,
  ) => [String(c.code), c.name, c.reconnect ? "yes" : "no", c.description]);
  assert.deepEqual(rows(between("close-codes")), expected);
});

Deno.test("README documents every message, field and enum value of flash_im.proto", () => {
  const { fields, enums, messages } = parseProto(proto);
  assert.ok(fields.length > 80, `parsed ${fields.length} fields`);
  for (const message of messages) {
    const documented = sectionRows(`### ${message}`).filter((r) => /^\d+$/.test(r[0]));
    const mine = fields.filter((f) => f.message === message && f.oneof !== "body");
    assert.deepEqual(
      documented.map((r) => [Number(r[0]), r[1], r[2]]),
      mine.map((f) => [f.number, f.name, f.label + f.type]),
      `### ${message}`,
    );
  }
  // Frame.body cases are documented in the bodies table of section 3.
  const bodies = rows(readme).filter((r) => /^\d+$/.test(r[0]) && /^`\w+`$/.test(r[1]));
  for (const f of fields.filter((f) => f.oneof === "body")) {
    assert.ok(
      bodies.some((r) => r[0] === String(f.number) && r[1] === `\`${f.name}\``),
      `body ${f.number} ${f.name}`,
    );
  }
  for (const [name, values] of enums) {
    const documented = sectionRows(`#### ${name}`).map((r) => [r[1], Number(r[0])]);
    assert.deepEqual(documented, values, `#### ${name}`);
  }
});
