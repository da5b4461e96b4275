import assert from "node:assert/strict";
import { makeDevCert } from "./dev_cert.ts";

Deno.test("makeDevCert() makes a leaf that Deno.listenTls accepts and a CA clients trust", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made = await makeDevCert(dir, 2);
    assert.equal((await Deno.stat(made.key)).mode! & 0o777, 0o600);
    const listener = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: await Deno.readTextFile(made.cert),
      key: await Deno.readTextFile(made.key),
    });
    const accepted = listener.accept();
    const client = await Deno.connectTls({
      hostname: "localhost",
      port: listener.addr.port,
      caCerts: [await Deno.readTextFile(made.caCert)],
    });
    const server = await accepted;
    await client.write(new Uint8Array([42]));
    const buf = new Uint8Array(1);
    assert.equal(await server.read(buf), 1);
    assert.equal(buf[0], 42);
    client.close();
    server.close();
    listener.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
