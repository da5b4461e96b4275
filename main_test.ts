import assert from "node:assert/strict";
import { parseConfig } from "./main.ts";

const noEnv = () => undefined;

Deno.test("parseConfig() reads flags, then environment, then defaults", () => {
  assert.equal(parseConfig(["--workers", "3"], noEnv).workers, 3);
  assert.equal(parseConfig([], (n) => (n === "FLASH_WORKERS" ? "2" : undefined)).workers, 2);
  assert.equal(parseConfig([], noEnv).workers, navigator.hardwareConcurrency);
  assert.equal(parseConfig([], noEnv).logLevel, "info");
});

Deno.test("parseConfig() refuses bad values with a message naming them", () => {
  assert.throws(() => parseConfig(["--workers", "0"], noEnv), /Invalid --workers: 0/);
  assert.throws(() => parseConfig(["--workers", "two"], noEnv), /Invalid --workers: two/);
  assert.throws(() => parseConfig(["--log-level", "loud"], noEnv), /Invalid --log-level: loud/);
  assert.throws(() => parseConfig(["--bogus"], noEnv), /bogus/);
});

Deno.test("deno task start runs a node and stops cleanly on SIGTERM", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("./main.ts", import.meta.url).pathname, "--workers", "2"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (!out.includes("running with 2 workers") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  assert.match(out, /flash-im node \S+ running with 2 workers/);
  child.kill("SIGTERM");
  const [status] = await Promise.all([child.status, reader.cancel(), child.stderr.cancel()]);
  assert.equal(status.code, 0);
});
