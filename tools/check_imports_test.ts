import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkImports, extractImports, type Violation } from "./check_imports.ts";

const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A throwaway source tree: `{ "runtime/mod.ts": "..." }`, removed on dispose. */
async function tree(files: Record<string, string>) {
  const root = await Deno.makeTempDir({ prefix: "check_imports_" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(join(root, dirname(path)), { recursive: true });
    await Deno.writeTextFile(join(root, path), text);
  }
  return { root, [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }) };
}

/** A clean tree that follows every rule; tests add one file to break one rule. */
const CLEAN: Record<string, string> = {
  "main.ts": `import { serve } from "./gateway/mod.ts";\nimport "./services/mod.ts";\n`,
  "runtime/mod.ts": `export { Mailbox } from "./mailbox.ts";\nexport * from "./ref.ts";\n`,
  "runtime/mailbox.ts": `import { cell } from "./_cell.ts";\nexport class Mailbox {}\n`,
  "runtime/_cell.ts": `import type { Mailbox } from "./mailbox.ts";\nexport const cell = 1;\n`,
  "runtime/ref.ts": `export type Ref = string;\n`,
  "runtime/worker.ts": `import { Mailbox } from "./mod.ts";\n`,
  "runtime/system.ts":
    `export const w = () => new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });\n`,
  "runtime/mailbox_test.ts": `import { cell } from "./_cell.ts";\nimport "npm:x";\n`,
  "protocol/mod.ts": `// @ts-types="./gen/flash.d.ts"\nexport * from "./gen/flash.js";\n`,
  "protocol/gen/flash.js": `export const Frame = {};\n`,
  "protocol/gen/flash.d.ts": `import "../../actors/mod.ts";\nexport const Frame: object;\n`,
  "client/mod.ts": `import { Frame } from "../protocol/mod.ts";\n`,
  "services/mod.ts": `import "../protocol/mod.ts";\nimport { Mailbox } from "../runtime/mod.ts";\n`,
  "actors/mod.ts": [
    `import { Mailbox } from "../runtime/mod.ts";`,
    `import type { Store } from "../services/mod.ts";`,
    `import { type A, type B } from "../services/mod.ts";`,
    `export type { C } from "../services/mod.ts";`,
    `const p = () => import("../protocol/mod.ts");`,
  ].join("\n"),
  "actors/user_test.ts": `import { Mailbox } from "../runtime/mailbox.ts";\n`,
  "gateway/mod.ts": `import "../actors/mod.ts";\nimport type { S } from "../services/mod.ts";\n`,
  "tests/e2e_test.ts": `import { Mailbox } from "../runtime/mailbox.ts";\nimport "../main.ts";\n`,
  "bench/main.ts": `import "../actors/user_test.ts";\nimport "../services/mod.ts";\n`,
  "tools/x.ts": `import "../protocol/gen/flash.js";\n`,
  "node_modules/pkg/index.ts": `import "../../runtime/_cell.ts";\n`,
  "data/junk.ts": `import "../protocol/gen/flash.js";\n`,
  ".bench/junk.ts": `import "../protocol/gen/flash.js";\n`,
};

/** Runs the checker on the clean tree plus `extra` files. */
async function violationsWith(extra: Record<string, string>): Promise<Violation[]> {
  await using t = await tree({ ...CLEAN, ...extra });
  return await checkImports(t.root);
}

/** Asserts exactly one violation, from `file`, whose reason matches `reason`. */
function assertOne(violations: Violation[], file: string, reason: RegExp): void {
  assert.equal(violations.length, 1, JSON.stringify(violations, null, 2));
  assert.equal(violations[0].file, file);
  assert.match(violations[0].reason, reason);
}

Deno.test("extractImports() finds every import form", () => {
  const source = `
    import a from "./a.ts";
    import * as b from './b.ts';
    import {
      c1,
      c2 as c3,
    } from "./c.ts";
    import d, { d1 } from "./d.ts";
    import "./e.ts";
    import type { F } from "./f.ts";
    import type G from "./g.ts";
    import { type H, type I } from "./h.ts";
    import { type J, k } from "./j.ts";
    export { l } from "./l.ts";
    export * from "./m.ts";
    export * as n from "./n.ts";
    export type { O } from "./o.ts";
    export type * from "./p.ts";
    const q = await import("./q.ts");
    const r = new Worker(new URL("./r.ts", import.meta.url), { type: "module" });
    const s = import("./s.json", { with: { type: "json" } });
    import type from "./t.ts";
  `;
  assert.deepEqual(extractImports(source), [
    { specifier: "./a.ts", kind: "static", typeOnly: false },
    { specifier: "./b.ts", kind: "static", typeOnly: false },
    { specifier: "./c.ts", kind: "static", typeOnly: false },
    { specifier: "./d.ts", kind: "static", typeOnly: false },
    { specifier: "./e.ts", kind: "static", typeOnly: false },
    { specifier: "./f.ts", kind: "static", typeOnly: true },
    { specifier: "./g.ts", kind: "static", typeOnly: true },
    { specifier: "./h.ts", kind: "static", typeOnly: true },
    { specifier: "./j.ts", kind: "static", typeOnly: false },
    { specifier: "./l.ts", kind: "static", typeOnly: false },
    { specifier: "./m.ts", kind: "static", typeOnly: false },
    { specifier: "./n.ts", kind: "static", typeOnly: false },
    { specifier: "./o.ts", kind: "static", typeOnly: true },
    { specifier: "./p.ts", kind: "static", typeOnly: true },
    { specifier: "./q.ts", kind: "dynamic", typeOnly: false },
    { specifier: "./r.ts", kind: "worker", typeOnly: false },
    { specifier: "./s.json", kind: "dynamic", typeOnly: false },
    { specifier: "./t.ts", kind: "static", typeOnly: false },
  ]);
});

Deno.test("extractImports() ignores comments, strings, templates, regexes and declarations", () => {
  const source = `#!/usr/bin/env -S deno run
    // import "./comment.ts";
    /* export * from "./block.ts"; */
    /** @example import { x } from "./doc.ts"; */
    const s = 'import "./single.ts"';
    const d = "export * from \\"./double.ts\\"";
    const t = \`import x from "./template.ts" \${f(\`import "./nested.ts"\`)} import("./t2.ts")\`;
    const re = /from ["'](\\.\\/regex.ts)["']/g;
    const cls = /[/"]import "\\/x.ts"/;
    const re2 = /import "\.\/regex2.ts"/;
    const q = /["]/.test(s); import "./after_regex.ts";
    const half = a / b; import "./after_division.ts";
    export const x = 1;
    export default class A { m() { return import.meta.url; } }
    export function f(a: string) { return a; }
    const u = new URL("./data.bin", import.meta.url);
    const dir = new URL("..", import.meta.url);
    obj.import("./method.ts");
  `;
  assert.deepEqual(extractImports(source), [
    { specifier: "./after_regex.ts", kind: "static", typeOnly: false },
    { specifier: "./after_division.ts", kind: "static", typeOnly: false },
  ]);
});

Deno.test("checkImports() passes a tree that follows every rule", async () => {
  assert.deepEqual(await violationsWith({}), []);
});

Deno.test("checkImports() keeps protocol/ and runtime/ self-contained", async () => {
  assertOne(
    await violationsWith({ "protocol/frame.ts": `import "../runtime/mod.ts";` }),
    "protocol/frame.ts",
    /protocol\/ may not import runtime\//,
  );
  assertOne(
    await violationsWith({ "runtime/x.ts": `import type { F } from "../protocol/mod.ts";` }),
    "runtime/x.ts",
    /runtime\/ may not import protocol\//,
  );
  assertOne(
    await violationsWith({ "runtime/x.ts": `import "../main.ts";` }),
    "runtime/x.ts",
    /may not import top-level files/,
  );
  assertOne(
    await violationsWith({ "runtime/x.ts": `import "../../elsewhere/y.ts";` }),
    "runtime/x.ts",
    /may not import \(outside the repo\)/,
  );
});

Deno.test("checkImports() enforces what client/ and services/ may import", async () => {
  assertOne(
    await violationsWith({ "client/x.ts": `import "../runtime/mod.ts";` }),
    "client/x.ts",
    /client\/ may not import runtime\//,
  );
  assertOne(
    await violationsWith({ "services/x.ts": `import type { U } from "../actors/mod.ts";` }),
    "services/x.ts",
    /services\/ may not import actors\//,
  );
});

Deno.test("checkImports() allows only `import type` from services/ in actors/ and gateway/", async () => {
  assertOne(
    await violationsWith({ "actors/x.ts": `import { Store } from "../services/mod.ts";` }),
    "actors/x.ts",
    /actors\/ may only `import type` from services\//,
  );
  assertOne(
    await violationsWith({ "gateway/x.ts": `import { type A, b } from "../services/mod.ts";` }),
    "gateway/x.ts",
    /gateway\/ may only `import type` from services\//,
  );
  assertOne(
    await violationsWith({ "actors/x.ts": `import "../gateway/mod.ts";` }),
    "actors/x.ts",
    /actors\/ may not import gateway\//,
  );
});

Deno.test("checkImports() applies layer rules to dynamic imports and worker URLs", async () => {
  assertOne(
    await violationsWith({ "protocol/x.ts": `const m = await import("../runtime/mod.ts");` }),
    "protocol/x.ts",
    /protocol\/ may not import runtime\//,
  );
  assertOne(
    await violationsWith({
      "client/x.ts": `new Worker(new URL("../actors/worker.ts", import.meta.url));`,
    }),
    "client/x.ts",
    /client\/ may not import actors\//,
  );
});

Deno.test("checkImports() requires crossing layers through mod.ts", async () => {
  assertOne(
    await violationsWith({ "actors/x.ts": `import { Mailbox } from "../runtime/mailbox.ts";` }),
    "actors/x.ts",
    /crossing into runtime\/ must go through runtime\/mod.ts/,
  );
  assertOne(
    await violationsWith({ "main.ts": `import "./runtime/mailbox.ts";` }),
    "main.ts",
    /must go through runtime\/mod.ts/,
  );
  assertOne(
    await violationsWith({ "gateway/x.ts": `import "../protocol/gen/flash.js";` }),
    "gateway/x.ts",
    /must go through protocol\/mod.ts/,
  );
});

Deno.test("checkImports() keeps _name.ts files private to their folder", async () => {
  assertOne(
    await violationsWith({ "tests/x_test.ts": `import "../runtime/_cell.ts";` }),
    "tests/x_test.ts",
    /_cell.ts is private to runtime\//,
  );
  assertOne(
    await violationsWith({
      "runtime/wire/_codec.ts": `export const c = 1;`,
      "runtime/y.ts": `import { c } from "./wire/_codec.ts";`,
    }),
    "runtime/y.ts",
    /_codec.ts is private to runtime\/wire\//,
  );
});

Deno.test("checkImports() reports each import cycle once, ignoring type-only edges", async () => {
  const violations = await violationsWith({
    "runtime/a.ts": `import "./b.ts";`,
    "runtime/b.ts": `export * from "./c.ts";`,
    "runtime/c.ts": `const a = () => import("./a.ts");`,
    "runtime/self.ts": `import "./self.ts";`,
  });
  assert.deepEqual(violations, [
    {
      file: "runtime/a.ts",
      specifier: "./b.ts",
      reason: "import cycle: runtime/a.ts -> runtime/b.ts -> runtime/c.ts -> runtime/a.ts",
    },
    {
      file: "runtime/self.ts",
      specifier: "./self.ts",
      reason: "import cycle: runtime/self.ts -> runtime/self.ts",
    },
  ]);
});

Deno.test("checkImports() names every file of a tangled cycle group", async () => {
  const violations = await violationsWith({
    "services/a.ts": `import "./b.ts";\nimport "./c.ts";`,
    "services/b.ts": `import "./a.ts";`,
    "services/c.ts": `import "./a.ts";`,
    "services/d.ts": `import type { A } from "./e.ts";`,
    "services/e.ts": `import type { D } from "./d.ts";`,
  });
  assertOne(
    violations,
    "services/a.ts",
    /^import cycle: services\/a.ts -> services\/b.ts -> services\/a.ts \(tangled with services\/c.ts\)$/,
  );
});

Deno.test("check_imports.ts CLI prints violations and exits 1", async () => {
  await using t = await tree({ ...CLEAN, "protocol/x.ts": `import "../runtime/mod.ts";` });
  const cli = fileURLToPath(new URL("./check_imports.ts", import.meta.url));
  const run = (root: string) =>
    new Deno.Command(Deno.execPath(), { args: ["run", "--allow-read", cli, root] }).output();
  const bad = await run(t.root);
  assert.equal(bad.code, 1);
  assert.match(
    new TextDecoder().decode(bad.stdout),
    /^protocol\/x.ts: imports \.\.\/runtime\/mod.ts: protocol\/ may not import runtime\//m,
  );
  await Deno.remove(join(t.root, "protocol/x.ts"));
  const good = await run(t.root);
  assert.equal(good.code, 0);
  assert.match(new TextDecoder().decode(good.stdout), /^imports ok \(\d+ files\)$/m);
});

Deno.test("checkImports() finds no violations in this repository", async () => {
  const violations = await checkImports(REPO_ROOT);
  const lines = violations.map((v) => `${v.file}: imports ${v.specifier}: ${v.reason}`);
  assert.deepEqual(lines, []);
});
