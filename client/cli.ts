/**
 * `deno task chat`: a terminal chat client on the SDK. Log in (or `--register`), list
 * friends with presence, add friends, open a conversation, send, and watch messages and
 * receipts arrive. Every line that does not start with `/` is sent to the open
 * conversation.
 *
 * Usage: `deno task chat --user alice --password demo-password [--register]
 *   [--http http://127.0.0.1:5280] [--url tcp://127.0.0.1:5200] [--device cli]`
 *
 * @module
 */

import { parseArgs } from "node:util";
import { ChatClient, type ChatMessageEvent } from "./chat_client.ts";
import { FlashConnection } from "./connection.ts";

const HELP = `Commands:
  /friends                 friends, with presence when known
  /requests                friend requests (incoming and outgoing)
  /add <username>          send a friend request
  /accept <username>       accept a request      /decline <username>  decline one
  /list                    conversations with unread counts
  /open <username>         open the conversation with a friend (shows recent history)
  /read                    mark the open conversation read
  /help                    this text             /quit                leave
  anything else            send it to the open conversation`;

interface Session {
  readonly http: string;
  readonly token: string;
  readonly userId: string;
}

interface UserRow {
  readonly id?: string;
  readonly userId?: string;
  readonly username: string;
}

/** A JSON call to the HTTP API; throws with the server's error message. */
async function api<T>(session: Pick<Session, "http"> & { token?: string }, path: string, init: {
  method?: string;
  body?: unknown;
} = {}): Promise<T> {
  const response = await fetch(`${session.http}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      "content-type": "application/json",
      ...(session.token ? { authorization: `Bearer ${session.token}` } : {}),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const error = json?.error;
    throw new Error(error ? `${error.message} (${error.code})` : `HTTP ${response.status}`);
  }
  return json as T;
}

function time(ms: number): string {
  return new Date(ms).toTimeString().slice(0, 5);
}

/** Reads stdin line by line (TextLineStream is not a global in Deno). */
async function* lines(): AsyncGenerator<string> {
  let buffered = "";
  for await (const chunk of Deno.stdin.readable.pipeThrough(new TextDecoderStream())) {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline).replace(/\r$/, "");
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered) yield buffered;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      user: { type: "string" },
      password: { type: "string" },
      register: { type: "boolean" },
      http: { type: "string", default: "http://127.0.0.1:5280" },
      url: { type: "string" },
      device: { type: "string", default: `cli-${crypto.randomUUID().slice(0, 8)}` },
      help: { type: "boolean" },
    },
  });
  if (values.help || !values.user) {
    console.log(
      "Usage: deno task chat --user NAME [--password PW] [--register] [--http URL] [--url URL]\n",
    );
    console.log(HELP);
    Deno.exit(values.help ? 0 : 2);
  }
  const password = values.password ?? prompt("Password:") ?? "";
  const http = values.http!;
  const url = values.url ?? `tcp://${new URL(http).hostname}:5200`;
  if (values.register) {
    await api({ http }, "/v1/auth/register", { body: { username: values.user, password } });
    console.log(`Registered ${values.user}.`);
  }
  const login = await api<{ accessToken: string; userId: string }>(
    { http },
    "/v1/auth/login",
    { body: { username: values.user, password, deviceId: values.device } },
  );
  const session: Session = { http, token: login.accessToken, userId: login.userId };
  const names = new Map<string, string>([[session.userId, values.user!]]);
  const presence = new Map<string, boolean>();
  let open: { userId: string; username: string; conversationId?: string } | undefined;
  let lastSeen = 0n;

  const conn = new FlashConnection({ url, token: session.token, deviceId: values.device! });
  const chat = new ChatClient(conn);
  const show = (m: ChatMessageEvent) => {
    const who = m.mine ? "me" : names.get(m.senderUserId) ?? `user ${m.senderUserId}`;
    const here = open?.conversationId === m.conversationId ||
      (!m.mine && open?.userId === m.senderUserId);
    const where = here ? "" : ` (in ${m.conversationId})`;
    console.log(`[${time(m.serverTimeMs)}] ${who}: ${m.text}${where}`);
    if (here && !m.mine) lastSeen = m.seq;
  };
  chat.on("message", show);
  chat.on("receipt", (r) => {
    if (r.userId === session.userId) return;
    const who = names.get(r.userId) ?? r.userId;
    console.log(`  ${r.kind === "read" ? "✓✓ read" : "✓ delivered"} by ${who} up to #${r.upToSeq}`);
  });
  chat.on("presence", (p) => {
    presence.set(p.userId, p.online);
    console.log(`  ${names.get(p.userId) ?? p.userId} is ${p.online ? "online" : "offline"}`);
  });
  chat.on("typing", (t) => {
    if (t.typing) console.log(`  ${names.get(t.userId) ?? t.userId} is typing...`);
  });
  const friends = async () => {
    const list = await api<{ friends: UserRow[] }>(session, "/v1/friends");
    for (const f of list.friends) names.set(f.userId!, f.username);
    return list.friends;
  };
  await friends();
  await chat.connect();
  console.log(`Logged in as ${values.user} (user ${session.userId}). /help lists the commands.`);

  const byName = async (username: string): Promise<UserRow | undefined> => {
    const found = await api<{ users: UserRow[] }>(
      session,
      `/v1/users?q=${encodeURIComponent(username)}&limit=20`,
    );
    return found.users.find((u) => u.username.toLowerCase() === username.toLowerCase());
  };

  for await (const line of lines()) {
    const [command, ...rest] = line.trim().split(/\s+/);
    const arg = rest.join(" ");
    try {
      switch (command) {
        case "":
          break;
        case "/quit":
          await chat.close();
          await conn.close();
          return;
        case "/help":
          console.log(HELP);
          break;
        case "/friends": {
          const list = await friends();
          if (list.length === 0) console.log("No friends yet: /add <username>");
          for (const f of list) {
            const state = presence.has(f.userId!)
              ? (presence.get(f.userId!) ? "online" : "offline")
              : "";
            console.log(`  ${f.username} ${state}`);
          }
          break;
        }
        case "/requests": {
          const r = await api<{ incoming: UserRow[]; outgoing: UserRow[] }>(
            session,
            "/v1/friends/requests",
          );
          console.log(`  incoming: ${r.incoming.map((u) => u.username).join(", ") || "none"}`);
          console.log(`  outgoing: ${r.outgoing.map((u) => u.username).join(", ") || "none"}`);
          break;
        }
        case "/add": {
          const user = await byName(arg);
          if (!user) {
            console.log(`No user named ${arg}`);
            break;
          }
          const r = await api<{ status: string }>(session, "/v1/friends/requests", {
            body: { userId: user.id },
          });
          console.log(
            r.status === "accepted" ? `You and ${arg} are now friends.` : `Request sent to ${arg}.`,
          );
          break;
        }
        case "/accept":
        case "/decline": {
          const r = await api<{ incoming: UserRow[] }>(session, "/v1/friends/requests");
          const from = r.incoming.find((u) => u.username.toLowerCase() === arg.toLowerCase());
          if (!from) {
            console.log(`No request from ${arg}`);
            break;
          }
          await api(session, `/v1/friends/requests/${from.userId}/${command.slice(1)}`, {
            body: {},
          });
          console.log(
            command === "/accept" ? `You and ${arg} are now friends.` : `Declined ${arg}.`,
          );
          break;
        }
        case "/list": {
          const list = await api<
            {
              conversations: {
                conversationId: string;
                peer: { userId: string } | null;
                unread: string;
              }[];
            }
          >(
            session,
            "/v1/conversations?limit=50",
          );
          if (list.conversations.length === 0) console.log("No conversations yet: /open <friend>");
          for (const c of list.conversations) {
            const peer = c.peer ? names.get(c.peer.userId) ?? c.peer.userId : c.conversationId;
            console.log(`  ${peer}${c.unread !== "0" ? ` (${c.unread} unread)` : ""}`);
          }
          break;
        }
        case "/open": {
          const friend = (await friends()).find((f) =>
            f.username.toLowerCase() === arg.toLowerCase()
          );
          if (!friend) {
            console.log(`${arg} is not your friend: /add ${arg}`);
            break;
          }
          const ids = [BigInt(session.userId), BigInt(friend.userId!)].sort((
            a,
            b,
          ) => (a < b ? -1 : 1));
          open = {
            userId: friend.userId!,
            username: friend.username,
            conversationId: `d:${ids[0]}:${ids[1]}`,
          };
          const history = await api<
            {
              messages: {
                seq: string;
                senderId: string;
                createdAt: number;
                content: { text?: string };
              }[];
            }
          >(
            session,
            `/v1/conversations/${open.conversationId}/messages?limit=20`,
          );
          console.log(`--- ${friend.username} ---`);
          for (const m of history.messages) {
            const who = m.senderId === session.userId ? "me" : friend.username;
            console.log(`[${time(m.createdAt)}] ${who}: ${m.content.text ?? "(non-text)"}`);
            if (m.senderId !== session.userId) lastSeen = BigInt(m.seq);
          }
          break;
        }
        case "/read":
          if (open?.conversationId && lastSeen > 0n) {
            await chat.markRead(open.conversationId, lastSeen);
            console.log("  marked read");
          }
          break;
        default: {
          if (command!.startsWith("/")) {
            console.log(`Unknown command ${command}. /help lists the commands.`);
            break;
          }
          if (!open) {
            console.log("Open a conversation first: /open <friend>");
            break;
          }
          console.log("  sending...");
          const ack = await chat.send({ userId: open.userId }, line);
          open.conversationId = ack.conversationId;
          console.log(`  ✓ sent #${ack.seq}`);
        }
      }
    } catch (error) {
      console.log(`  failed: ${error instanceof Error ? error.message : error}`);
    }
  }
  await chat.close();
  await conn.close();
}

if (import.meta.main) await main();
