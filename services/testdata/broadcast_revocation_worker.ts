// Test helper for ephemeral_broadcast_test.ts: a revocation list in another worker, which
// reports the first revocation it hears and whether it then counts as revoked.
import { BroadcastRevocationList } from "../ephemeral_broadcast.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<string>) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = ({ data: channel }) => {
  const list = new BroadcastRevocationList(channel);
  list.subscribe(async (id) => {
    scope.postMessage({ heard: id, revoked: await list.isRevoked(id) });
    await list.close();
  });
  scope.postMessage("ready");
};
