// Test helper for sqlite_test.ts: opens a database file from a worker thread, so several
// threads can race on the same file's migrations. Waits on a shared barrier first so the
// racers start together.
import { openSqlite } from "../sqlite.ts";
import type { Migration } from "../sqlite.ts";

interface Job {
  path: string;
  migrations: Migration[];
  barrier: SharedArrayBuffer;
  racers: number;
}

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<Job>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = ({ data }) => {
  try {
    const arrived = new Int32Array(data.barrier);
    Atomics.add(arrived, 0, 1);
    Atomics.notify(arrived, 0);
    while (Atomics.load(arrived, 0) < data.racers) {
      Atomics.wait(arrived, 0, Atomics.load(arrived, 0), 1_000);
    }
    using db = openSqlite(data.path, data.migrations);
    const version = db.prepare("PRAGMA user_version").get() as { user_version: number };
    scope.postMessage({ ok: true, version: version.user_version });
  } catch (error) {
    scope.postMessage({ ok: false, error: String(error) });
  }
};
