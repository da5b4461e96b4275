/**
 * The terminal chat client, driven the way a person would: two CLI processes, typed
 * commands on stdin, what they print on stdout.
 */

import assert from "node:assert/strict";
import { startServer, type TestServer } from "./harness.ts";

const CLI = new URL("../client/cli.ts", import.meta.url).pathname;

function cli(server: TestServer, user: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      CLI,
      "--user",
      user,
      "--password",
      "demo-password",
      "--http",
      server.http,
      "--url",
      `tcp://127.0.0.1:${server.tcpPort}`,
      "--device",
      `${user}-cli`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  let out = "";
  const reading = child.stdout.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (chunk) => void (out += chunk) }),
  );
  const errors = new Response(child.stderr).text();
  return {
    type: (line: string) => writer.write(new TextEncoder().encode(`${line}\n`)),
    output: () => out,
    async waitFor(text: string, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (Date.now() > deadline) {
          throw new Error(`${user} never printed ${JSON.stringify(text)}:\n${out}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async quit() {
      await writer.write(new TextEncoder().encode("/quit\n"));
      await writer.close();
      const status = await child.status;
      await reading;
      return { status, stderr: await errors };
    },
  };
}

Deno.test("deno task chat: two people chat in their terminals", async () => {
  await using server = await startServer({ args: ["--demo", "true"] });
  const bob = cli(server, "bob");
  await bob.waitFor("Logged in as bob");
  await bob.type("/open alice");
  await bob.waitFor("--- alice ---");
  const alice = cli(server, "alice");
  await alice.waitFor("Logged in as alice");
  await alice.type("/friends");
  await alice.waitFor("  bob");
  await alice.type("/open bob");
  await alice.waitFor("--- bob ---");
  await alice.type("hello from the terminal");
  await alice.waitFor("✓ sent #1");
  await bob.waitFor("alice: hello from the terminal");
  await bob.type("/read");
  await alice.waitFor("✓✓ read by bob up to #1");
  await bob.type("/list");
  await bob.waitFor("  alice");
  await alice.type("/bogus");
  await alice.waitFor("Unknown command /bogus");
  for (const side of [await alice.quit(), await bob.quit()]) {
    assert.equal(side.status.code, 0, side.stderr);
  }
});
