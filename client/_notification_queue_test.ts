import assert from "node:assert/strict";
import { NotificationQueue } from "./_notification_queue.ts";
import { SlowConsumerError } from "./errors.ts";

Deno.test("NotificationQueue yields pushed items in order, then ends after end()", async () => {
  let done = 0;
  const queue = new NotificationQueue<number>(4, "dropOldest", () => done++);
  queue.push(1);
  queue.push(2);
  const waiting = (async () => {
    const seen: number[] = [];
    for await (const n of queue) seen.push(n);
    return seen;
  })();
  await Promise.resolve();
  queue.push(3);
  queue.end();
  queue.push(4); // ignored after end()
  assert.deepEqual(await waiting, [1, 2, 3]);
  assert.equal(done, 1);
});

Deno.test("NotificationQueue drops the oldest items when full (dropOldest)", async () => {
  const queue = new NotificationQueue<number>(3, "dropOldest", () => {});
  for (let i = 1; i <= 7; i++) queue.push(i);
  queue.end();
  const seen: number[] = [];
  for await (const n of queue) seen.push(n);
  assert.deepEqual(seen, [5, 6, 7]);
  assert.equal(queue.dropped, 4);
});

Deno.test("NotificationQueue yields its buffer then throws SlowConsumerError (error)", async () => {
  let done = 0;
  const queue = new NotificationQueue<number>(2, "error", () => done++);
  for (let i = 1; i <= 3; i++) queue.push(i);
  assert.equal(done, 1); // unsubscribed at once
  assert.deepEqual(await queue.next(), { done: false, value: 1 });
  assert.deepEqual(await queue.next(), { done: false, value: 2 });
  await assert.rejects(queue.next(), SlowConsumerError);
  assert.deepEqual(await queue.next(), { done: true, value: undefined });
  assert.equal(done, 1);
});

Deno.test("NotificationQueue.return() discards the buffer and calls onDone once", async () => {
  let done = 0;
  const queue = new NotificationQueue<number>(4, "dropOldest", () => done++);
  queue.push(1);
  queue.push(2);
  for await (const n of queue) {
    assert.equal(n, 1);
    break;
  }
  assert.equal(done, 1);
  assert.deepEqual(await queue.next(), { done: true, value: undefined });
  queue.end();
  assert.equal(done, 1);
});
