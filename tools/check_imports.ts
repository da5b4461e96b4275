/**
 * Checks the project's import rules (DESIGN.md, "Layout"): run by `deno task lint`, and by
 * `deno task test` through `check_imports_test.ts`.
 *
 * Layers are the top-level folders. `protocol/` and `runtime/` import nothing outside
 * themselves; `client/` may import `protocol/`; `services/` may import `protocol/` and
 * `runtime/`; `actors/` may import `runtime/`, `protocol/` and `import type` from `services/`;
 * `gateway/` may import `actors/`, `protocol/`, `runtime/` and `import type` from `services/`.
 * `tools/`, `bench/`, `tests/`, top-level files (`main.ts`) and any other folder may import
 * any layer.
 *
 * Crossing into another layer goes through its `mod.ts`, except from `tests/`, `bench/`,
 * `tools/` and `*_test.ts` files, which may import any file. A worker entry loaded by
 * `new URL("x.ts", import.meta.url)` is exempt from the `mod.ts` rule (a URL cannot be
 * re-exported) but not from the layer rules. A `_name.ts` file is private to its folder.
 * A cycle in the import graph is a violation; `import type` edges and worker URLs (a worker
 * is a separate module graph) do not make cycles, dynamic `import()` does.
 *
 * Only `.ts` files are scanned (not `.d.ts`); other targets (`.js`, `.json`) are leaves.
 * Specifiers that are not relative (`npm:`, `node:`, import-map names) are ignored. An
 * `import { type A, type B }` whose every name is a type counts as type-only.
 *
 * @example
 * ```ts
 * const violations = await checkImports("/path/to/repo");
 * for (const v of violations) console.log(`${v.file}: imports ${v.specifier}: ${v.reason}`);
 * ```
 *
 * @module
 */

import { basename, dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** One broken rule: `file` (repo-relative) imports `specifier` (as written). */
export interface Violation {
  file: string;
  specifier: string;
  reason: string;
}

/** One import found in a source file. */
export interface ImportRef {
  specifier: string;
  /** `static` import/export, `dynamic` `import("x")`, `worker` `new URL("x", import.meta.url)`. */
  kind: "static" | "dynamic" | "worker";
  typeOnly: boolean;
}

/** One resolved edge of the import graph; `to` is repo-relative (`../x` when outside). */
export interface ImportEdge extends ImportRef {
  to: string;
}

/** The scanned files (repo-relative, sorted) and their resolved relative imports. */
export interface ImportGraph {
  files: string[];
  edges: Map<string, ImportEdge[]>;
}

/** What each restricted layer may import besides itself; unlisted folders are free. */
const RULES: Record<string, { may: string[]; typeOnly: string[] }> = {
  protocol: { may: [], typeOnly: [] },
  runtime: { may: [], typeOnly: [] },
  client: { may: ["protocol"], typeOnly: [] },
  services: { may: ["protocol", "runtime"], typeOnly: [] },
  actors: { may: ["runtime", "protocol"], typeOnly: ["services"] },
  gateway: { may: ["actors", "protocol", "runtime"], typeOnly: ["services"] },
};
/** Folders whose files may import any file of another layer, not only its `mod.ts`. */
const DEEP_OK = new Set(["tests", "bench", "tools"]);
/** Folders never scanned (dot folders are skipped too). */
const SKIP_DIRS = new Set(["node_modules", "data", "coverage"]);
const OUTSIDE = "(outside the repo)";

type Token = { t: "str" | "word" | "punct" | "opaque"; v: string };
/** Words after which a `/` starts a regular expression rather than a division. */
const BEFORE_REGEX = new Set(
  "return typeof case do else in of new delete void throw instanceof yield await".split(" "),
);

/** Index just after the next `end` at or after `from`, or the end of `src`. */
function skipPast(src: string, end: string, from: number): number {
  const at = src.indexOf(end, from);
  return at < 0 ? src.length : at + end.length;
}

/**
 * Splits TypeScript source into the tokens the import patterns need: comments vanish,
 * string literals keep their value, templates and regular expressions become opaque, so
 * import-like text inside them is never mistaken for an import.
 */
function tokenize(src: string): Token[] {
  const out: Token[] = [];
  const closers: number[] = []; // brace depths at which a template's `${` closes
  let depth = 0;
  let i = src.startsWith("#!") ? src.indexOf("\n") : 0;
  if (i < 0) i = src.length;
  const template = (start: number, fresh: boolean): number => {
    let j = start;
    let v = "";
    while (j < src.length && src[j] !== "`") {
      if (src[j] === "$" && src[j + 1] === "{") {
        closers.push(++depth);
        out.push({ t: "opaque", v: "`" });
        return j + 2;
      }
      if (src[j] === "\\") v += src[++j];
      else v += src[j];
      j++;
    }
    out.push(fresh ? { t: "str", v } : { t: "opaque", v: "`" });
    return j + 1;
  };
  const regexAllowed = (): boolean => {
    const p = out.at(-1);
    if (p === undefined) return true;
    if (p.t === "word") return BEFORE_REGEX.has(p.v);
    return p.t === "punct" && p.v !== ")" && p.v !== "]";
  };
  while (i < src.length) {
    const c = src[i];
    if (c === " " || c === "\n" || c === "\t" || c === "\r") i++;
    else if (c === "/" && src[i + 1] === "/") i = skipPast(src, "\n", i);
    else if (c === "/" && src[i + 1] === "*") i = skipPast(src, "*/", i + 2);
    else if (c === '"' || c === "'") {
      let j = i + 1;
      let v = "";
      for (; j < src.length && src[j] !== c && src[j] !== "\n"; j++) {
        v += src[j] === "\\" ? src[++j] : src[j];
      }
      out.push({ t: "str", v });
      i = j + 1;
    } else if (c === "`") i = template(i + 1, true);
    else if (c === "}" && closers.at(-1) === depth) {
      closers.pop();
      depth--;
      i = template(i + 1, false);
    } else if (c === "/" && regexAllowed()) {
      let j = i + 1;
      let inClass = false;
      for (; j < src.length && src[j] !== "\n"; j++) {
        if (src[j] === "\\") j++;
        else if (src[j] === "[") inClass = true;
        else if (src[j] === "]") inClass = false;
        else if (src[j] === "/" && !inClass) break;
      }
      out.push({ t: "opaque", v: "/" });
      i = j + 1;
    } else if (/[\w$]/.test(c) || c > "\x7f") {
      let j = i + 1;
      while (j < src.length && (/[\w$]/.test(src[j]) || src[j] > "\x7f")) j++;
      out.push({ t: "word", v: src.slice(i, j) });
      i = j;
    } else {
      if (c === "{") depth++;
      if (c === "}") depth--;
      out.push({ t: "punct", v: c });
      i++;
    }
  }
  return out;
}

/** Finds every import, re-export, dynamic `import("x")` and worker URL in `source`. */
export function extractImports(source: string): ImportRef[] {
  const toks = tokenize(source);
  const is = (k: number, t: Token["t"], v?: string) =>
    toks[k]?.t === t && (v === undefined || toks[k].v === v);
  // `import ... from "x"` / `export ... from "x"`: the clause holds only names, braces,
  // commas and `*`; anything else (`=`, `(`, `;`) means a declaration, not an import.
  const fromClause = (start: number): ImportRef | undefined => {
    let k = start;
    let typeOnly = false;
    if (
      is(k, "word", "type") && !is(k + 1, "punct", ",") &&
      !(is(k + 1, "word", "from") && is(k + 2, "str"))
    ) {
      typeOnly = true;
      k++;
    }
    let inBraces = false;
    let outside = 0;
    const elements: string[][] = [];
    for (; k < toks.length; k++) {
      const { t, v } = toks[k];
      if (!inBraces && t === "word" && v === "from" && is(k + 1, "str")) {
        const inlineTypes = outside === 0 && elements.length > 0 &&
          elements.every((e) => e.length > 1 && e[0] === "type");
        return { specifier: toks[k + 1].v, kind: "static", typeOnly: typeOnly || inlineTypes };
      }
      if (t === "word" && (v === "import" || v === "export")) return undefined;
      if (t === "punct" && v === "{" && !inBraces) {
        inBraces = true;
        elements.push([]);
      } else if (t === "punct" && v === "}" && inBraces) inBraces = false;
      else if (t === "punct" && v === ",") {
        if (inBraces) elements.push([]);
      } else if (t === "word" || (t === "punct" && v === "*") || (t === "str" && inBraces)) {
        if (inBraces) elements.at(-1)!.push(v);
        else outside++;
      } else return undefined;
    }
    return undefined;
  };
  const found: ImportRef[] = [];
  for (let k = 0; k < toks.length; k++) {
    if (toks[k].t !== "word" || is(k - 1, "punct", ".")) continue;
    const word = toks[k].v;
    if (word === "import" && is(k + 1, "str")) {
      found.push({ specifier: toks[k + 1].v, kind: "static", typeOnly: false });
    } else if (word === "import" && is(k + 1, "punct", "(")) {
      if (is(k + 2, "str") && (is(k + 3, "punct", ")") || is(k + 3, "punct", ","))) {
        found.push({ specifier: toks[k + 2].v, kind: "dynamic", typeOnly: false });
      }
    } else if ((word === "import" && !is(k + 1, "punct", ".")) || word === "export") {
      const ref = fromClause(k + 1);
      if (ref) found.push(ref);
    } else if (
      word === "new" && is(k + 1, "word", "URL") && is(k + 2, "punct", "(") && is(k + 3, "str") &&
      is(k + 4, "punct", ",") && is(k + 5, "word", "import") && is(k + 6, "punct", ".") &&
      is(k + 7, "word", "meta") && is(k + 8, "punct", ".") && is(k + 9, "word", "url") &&
      /\.(ts|js|mjs)$/.test(toks[k + 3].v)
    ) {
      found.push({ specifier: toks[k + 3].v, kind: "worker", typeOnly: false });
    }
  }
  return found;
}

/** Resolves a relative or file specifier to a repo-relative path; `undefined` if external. */
function resolveSpecifier(root: string, from: string, specifier: string): string | undefined {
  const bare = specifier.replace(/[?#].*$/, "");
  let abs: string;
  if (bare.startsWith("./") || bare.startsWith("../")) abs = join(root, dirname(from), bare);
  else if (bare.startsWith("/")) abs = normalize(bare);
  else if (bare.startsWith("file:")) abs = fileURLToPath(bare);
  else return undefined;
  return relative(root, abs);
}

async function listSources(root: string, dir = ""): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(join(root, dir))) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory && !entry.name.startsWith(".") && !SKIP_DIRS.has(entry.name)) {
      files.push(...await listSources(root, path));
    } else if (entry.isFile && entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
      files.push(path);
    }
  }
  return files;
}

/** Scans every `.ts` file under `root` and resolves its relative imports. */
export async function buildImportGraph(root: string): Promise<ImportGraph> {
  const files = (await listSources(root)).sort();
  const edges = new Map<string, ImportEdge[]>();
  for (const file of files) {
    const source = await Deno.readTextFile(join(root, file));
    const resolved: ImportEdge[] = [];
    for (const ref of extractImports(source)) {
      const to = resolveSpecifier(root, file, ref.specifier);
      if (to !== undefined) resolved.push({ ...ref, to });
    }
    edges.set(file, resolved);
  }
  return { files, edges };
}

function layerOf(path: string): string {
  if (path.startsWith("../")) return OUTSIDE;
  const slash = path.indexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

function edgeViolation(from: string, edge: ImportEdge): string | undefined {
  const src = layerOf(from);
  const dst = layerOf(edge.to);
  const name = (layer: string) => (layer === "" ? "top-level files" : `${layer}/`);
  if (basename(edge.to).startsWith("_") && dirname(edge.to) !== dirname(from)) {
    return `${basename(edge.to)} is private to ${dirname(edge.to)}/`;
  }
  if (src === dst) return undefined;
  const rule = RULES[src];
  if (rule && !rule.may.includes(dst)) {
    if (!rule.typeOnly.includes(dst)) {
      const allowed = rule.may.length === 0 ? "nothing outside itself" : rule.may.join("/, ") + "/";
      return `${src}/ may not import ${name(dst)} (it may import ${allowed})`;
    }
    if (!edge.typeOnly) return `${src}/ may only \`import type\` from ${dst}/`;
  }
  const deepOk = DEEP_OK.has(src) || from.endsWith("_test.ts") || edge.kind === "worker";
  if (dst !== "" && dst !== OUTSIDE && !deepOk && edge.to !== `${dst}/mod.ts`) {
    return `crossing into ${dst}/ must go through ${dst}/mod.ts`;
  }
  return undefined;
}

/** Tarjan's strongly connected components; returns the components, each sorted. */
function stronglyConnected(nodes: string[], next: (n: string) => string[]): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    components.push(component.sort());
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return components;
}

/** Shortest path of edges from `start` back to itself, staying inside `members`. */
function shortestCycle(start: string, members: Set<string>, next: (n: string) => string[]) {
  const parent = new Map<string, string>();
  const queue = [start];
  for (let q = 0; q < queue.length; q++) {
    for (const w of next(queue[q])) {
      if (w === start) {
        const path = [queue[q]];
        while (path[0] !== start) path.unshift(parent.get(path[0])!);
        return [...path, start];
      }
      if (members.has(w) && !parent.has(w)) {
        parent.set(w, queue[q]);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** Applies the layer, `mod.ts`, private-file and cycle rules to a scanned graph. */
export function findViolations(graph: ImportGraph): Violation[] {
  const violations: Violation[] = [];
  for (const file of graph.files) {
    for (const edge of graph.edges.get(file) ?? []) {
      const reason = edgeViolation(file, edge);
      if (reason) violations.push({ file, specifier: edge.specifier, reason });
    }
  }
  const scanned = new Set(graph.files);
  const cycleEdges = (n: string) =>
    (graph.edges.get(n) ?? []).filter((e) => !e.typeOnly && e.kind !== "worker");
  const next = (n: string) =>
    [...new Set(cycleEdges(n).map((e) => e.to))].filter((t) => scanned.has(t));
  for (const component of stronglyConnected(graph.files, next)) {
    const [start] = component;
    if (component.length === 1 && !next(start).includes(start)) continue;
    const cycle = shortestCycle(start, new Set(component), next);
    const more = component.filter((f) => !cycle.includes(f));
    const tail = more.length > 0 ? ` (tangled with ${more.join(", ")})` : "";
    const specifier = cycleEdges(start).find((e) => e.to === cycle[1])!.specifier;
    violations.push({
      file: start,
      specifier,
      reason: `import cycle: ${cycle.join(" -> ")}${tail}`,
    });
  }
  return violations;
}

/** Scans the repository at `root` and returns every broken import rule (empty when clean). */
export async function checkImports(root: string): Promise<Violation[]> {
  return findViolations(await buildImportGraph(root));
}

if (import.meta.main) {
  const root = Deno.args[0] ?? fileURLToPath(new URL("..", import.meta.url));
  const graph = await buildImportGraph(root);
  const violations = findViolations(graph);
  for (const v of violations) console.log(`${v.file}: imports ${v.specifier}: ${v.reason}`);
  if (violations.length > 0) {
    console.log(`${violations.length} import rule violation(s)`);
    Deno.exit(1);
  }
  console.log(`imports ok (${graph.files.length} files)`);
}
