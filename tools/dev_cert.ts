/**
 * Makes a development CA and a leaf certificate for `localhost` / 127.0.0.1 with openssl,
 * for the TLS listener and for tests: `deno task dev:cert [dir]` (default `data/tls`).
 *
 * The leaf carries `basicConstraints=critical,CA:FALSE`: rustls (behind `Deno.listenTls`)
 * refuses a self-signed CA certificate used as the server's own (`CaUsedAsEndEntity`).
 * Clients trust `ca.crt` (`Deno.connectTls({ caCerts })`, or `--cert ca.crt` for `wss://`).
 *
 * @module
 */

import { join } from "node:path";

/** Paths of the generated files. */
export interface DevCert {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
      .output();
  } catch (error) {
    throw new Error(`Cannot run openssl (install the openssl package): ${error}`);
  }
  if (!output.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
  }
}

/**
 * Creates `ca.crt`, `ca.key`, `server.crt` and `server.key` in `dir` (keys mode 0600),
 * valid for `days` days. Existing files are replaced.
 */
export async function makeDevCert(dir: string, days = 365): Promise<DevCert> {
  await Deno.mkdir(dir, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  await openssl([
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    String(days),
    "-subj",
    "/CN=flash-im dev CA",
  ], dir);
  await openssl([
    "req",
    ...ec,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ], dir);
  await Deno.writeTextFile(
    join(dir, "server.ext"),
    "basicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n" +
      "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n",
  );
  await openssl([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.crt",
    "-days",
    String(days),
    "-extfile",
    "server.ext",
  ], dir);
  for (const name of ["server.csr", "server.ext", "ca.srl"]) {
    await Deno.remove(join(dir, name)).catch(() => {});
  }
  for (const name of ["ca.key", "server.key"]) await Deno.chmod(join(dir, name), 0o600);
  return {
    caCert: join(dir, "ca.crt"),
    cert: join(dir, "server.crt"),
    key: join(dir, "server.key"),
  };
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "data/tls";
  const made = await makeDevCert(dir);
  console.log(`Wrote ${made.cert} and ${made.key} (CA: ${made.caCert}). Start with:`);
  console.log(`  deno task start --tls-cert ${made.cert} --tls-key ${made.key}`);
}
