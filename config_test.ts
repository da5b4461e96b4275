import assert from "node:assert/strict";
import { HelpRequested, NODE_V8_FLAGS, parseConfig, usage } from "./config.ts";

const noEnv = () => undefined;

Deno.test("parseConfig() reads flags, then environment, then defaults", () => {
  assert.equal(parseConfig(["--workers", "3"], noEnv).workers, 3);
  assert.equal(parseConfig([], (n) => (n === "FLASH_WORKERS" ? "2" : undefined)).workers, 2);
  const defaults = parseConfig([], noEnv);
  assert.equal(defaults.workers, navigator.hardwareConcurrency);
  assert.equal(defaults.logLevel, "info");
  assert.equal(defaults.tcpPort, 5200);
  assert.equal(defaults.httpPort, 5280);
  assert.equal(defaults.dataDir, "data");
  assert.equal(defaults.tlsCert, undefined);
  const env = (n: string) => ({ FLASH_TCP_PORT: "6000", FLASH_HOST: "0.0.0.0" })[n];
  assert.equal(parseConfig(["--tcp-port", "6001"], env).tcpPort, 6001);
  assert.equal(parseConfig([], env).host, "0.0.0.0");
});

Deno.test("parseConfig() refuses bad values with a message naming them", () => {
  assert.throws(() => parseConfig(["--workers", "0"], noEnv), /Invalid --workers: 0/);
  assert.throws(() => parseConfig(["--workers", "two"], noEnv), /Invalid --workers: two/);
  assert.throws(() => parseConfig(["--log-level", "loud"], noEnv), /Invalid --log-level: loud/);
  assert.throws(() => parseConfig(["--tcp-port", "70000"], noEnv), /Invalid --tcp-port: 70000/);
  assert.throws(() => parseConfig(["--bogus"], noEnv), /bogus/);
  assert.throws(() => parseConfig(["--tls-cert", "a.pem"], noEnv), /both --tls-cert and --tls-key/);
  assert.throws(
    () => parseConfig(["--tcp-port", "5280"], noEnv),
    /TCP, HTTP and TLS ports must differ/,
  );
  assert.throws(
    () => parseConfig(["--heartbeat-ms", "5000", "--idle-timeout-ms", "4000"], noEnv),
    /must be below --idle-timeout-ms/,
  );
  assert.throws(() => parseConfig(["--data-dir", " "], noEnv), /--data-dir: it is empty/);
});

Deno.test("parseConfig() reads the real backends' URLs and checks them", () => {
  const defaults = parseConfig([], noEnv);
  assert.equal(defaults.postgresUrl, undefined);
  assert.equal(defaults.redisUrl, undefined);
  assert.equal(defaults.pgSchema, "flash_im");
  assert.equal(defaults.redisPrefix, "flash-im:");
  const env = (n: string) =>
    ({ FLASH_POSTGRES_URL: "postgres://u@db:5432/chat", FLASH_REDIS_URL: "redis://r:6379" })[n];
  const real = parseConfig(["--pg-pool", "8"], env);
  assert.equal(real.postgresUrl, "postgres://u@db:5432/chat");
  assert.equal(real.redisUrl, "redis://r:6379");
  assert.equal(real.pgPool, 8);
  assert.throws(() => parseConfig(["--postgres", "db:5432"], noEnv), /Invalid --postgres/);
  assert.throws(
    () => parseConfig(["--redis", "http://r:6379"], noEnv),
    /Invalid --redis: http: is not one of redis:, rediss:/,
  );
  assert.throws(() => parseConfig(["--pg-schema", "Chat-1"], noEnv), /Invalid --pg-schema/);
});

Deno.test("parseConfig() reads the cluster settings and checks them", () => {
  const lone = parseConfig([], noEnv);
  assert.equal(lone.natsUrl, undefined);
  assert.equal(lone.cluster, "flash-im");
  assert.equal(lone.keysDir, "data/keys");
  const pg = ["--postgres", "postgres://u@db/chat"];
  const node = parseConfig([...pg, "--nats", "nats://n:4222", "--cluster", "eu-1"], noEnv);
  assert.equal(node.natsUrl, "nats://n:4222");
  assert.equal(node.cluster, "eu-1");
  assert.deepEqual(
    [node.clusterHeartbeatMs, node.clusterSuspectMs, node.clusterDeadMs],
    [1000, 3000, 5000],
  );
  assert.equal(parseConfig(["--keys-dir", "/etc/flash/keys"], noEnv).keysDir, "/etc/flash/keys");
  assert.throws(() => parseConfig(["--nats", "nats://n:4222"], noEnv), /give --postgres too/);
  assert.throws(() => parseConfig([...pg, "--nats", "http://n"], noEnv), /Invalid --nats/);
  assert.throws(() => parseConfig(["--cluster", "a.b"], noEnv), /Invalid --cluster/);
  assert.throws(
    () => parseConfig(["--cluster-suspect-ms", "6000"], noEnv),
    /Invalid cluster timing/,
  );
});

Deno.test("parseConfig() reads the services a node serves", () => {
  assert.deepEqual(parseConfig([], noEnv).services, ["auth", "sync", "persist"]);
  const cluster = ["--postgres", "postgres://u@db/chat", "--nats", "nats://n:4222"];
  assert.deepEqual(parseConfig([...cluster, "--services", "sync"], noEnv).services, ["sync"]);
  assert.deepEqual(parseConfig([...cluster, "--services", "none"], noEnv).services, []);
  assert.throws(
    () => parseConfig([...cluster, "--services", "auth,mail"], noEnv),
    /Invalid --services: mail is not one of auth, sync, persist/,
  );
  assert.throws(
    () => parseConfig(["--services", "auth"], noEnv),
    /a lone node must serve every service/,
  );
});

Deno.test("parseConfig() --help asks for the usage, which names every flag and env", () => {
  assert.throws(() => parseConfig(["--help"], noEnv), HelpRequested);
  for (const flag of ["--workers", "--tls-cert", "FLASH_DATA_DIR", "--rate-limit"]) {
    assert.match(usage(), new RegExp(flag));
  }
});

Deno.test("deno task start runs main.ts with NODE_V8_FLAGS (tests and benches use the same)", async () => {
  const json = JSON.parse(await Deno.readTextFile(new URL("./deno.json", import.meta.url)));
  assert.match(json.tasks.start.command, new RegExp(`--v8-flags=${NODE_V8_FLAGS} main\\.ts$`));
});

Deno.test("seedDemo() makes the demo users friends, and running it twice changes nothing", async () => {
  const { seedDemo, DEMO_USERS } = await import("./main.ts");
  const { openStores } = await import("./services/mod.ts");
  const dir = await Deno.makeTempDir();
  const stores = await openStores({ dataDir: dir });
  try {
    await seedDemo(stores);
    await seedDemo(stores);
    const { users, friends } = stores;
    const ids = await Promise.all(DEMO_USERS.map(async (n) => (await users.byUsername(n))!.id));
    assert.equal(new Set(ids).size, 3);
    assert.ok(await friends.areFriends(ids[0]!, ids[1]!));
    assert.ok(await friends.areFriends(ids[1]!, ids[2]!));
    assert.equal((await friends.friendsOf(ids[0]!, { limit: 10 })).friends.length, 2);
  } finally {
    await stores.close();
    await Deno.remove(dir, { recursive: true });
  }
});
