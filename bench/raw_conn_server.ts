/**
 * The raw baseline of the `connections` suite: a bare Deno TCP server that accepts and keeps
 * one pending `conn.read` with a 4 KiB buffer per connection (the buffer size the gateway
 * uses), and nothing else: no framing, no actors, no auth, no timers.
 *
 * Run as `deno run -A bench/raw_conn_server.ts --host 127.0.0.1 --port 0`. It prints one
 * line `listening <port>` on stdout once it accepts. After each accept it writes one byte,
 * so a client knows the server has accepted it and is reading (the raw counterpart of
 * `AuthOk`). It exits when its stdin closes (the bench is gone) or on SIGTERM/SIGINT.
 *
 * @module
 */

import { listenForBench } from "./_raw_server.ts";

/** The byte written to each accepted connection. */
export const RAW_GREETING = 0x2a;
/** Read buffer per connection: the gateway's default. */
export const RAW_READ_BUFFER_BYTES = 4096;

async function hold(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(RAW_READ_BUFFER_BYTES);
  try {
    await conn.write(new Uint8Array([RAW_GREETING]));
    while ((await conn.read(buffer)) !== null) { /* discard */ }
  } catch { /* reset by the peer */ }
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function main(): Promise<void> {
  const listener = listenForBench();
  let backoff = 10;
  while (true) {
    let conn: Deno.Conn;
    try {
      conn = await listener.accept();
    } catch (error) {
      // EMFILE and the like: keep the connections we have, try again a little later.
      console.error(`raw server: accept failed: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(1000, backoff * 2);
      continue;
    }
    backoff = 10;
    void hold(conn);
  }
}

if (import.meta.main) await main();
