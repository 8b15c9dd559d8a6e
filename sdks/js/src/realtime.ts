/** The WebSocket API (`/api/v1/ws`, docs/websocket.md): subscriptions and chat as async iterators. */

import { camelKeys, snakeKeys } from "./casing.js";
import type { Core } from "./core.js";
import { APIConnectionError, AuthenticationError, CodexOSError, errorFromResponse } from "./errors.js";
import type { StreamEvent } from "./streaming.js";
import type { JSONObject } from "./types.js";

/** The subset of the WHATWG `WebSocket` this SDK uses (browsers, Node 22+, the `ws` package). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: string, listener: (event: never) => void): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** A frame of a chat: `chat.started`, `token` (with `delta`), `message.completed`. */
export interface ChatFrame {
  type: string;
  id: string;
  conversationId: string;
  runId: string;
  delta?: string;
  status?: string;
  output?: string | null;
  error?: unknown;
  usage?: JSONObject;
}

/** An unbounded queue read by one async iterator. */
class Queue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiters: Array<(r: IteratorResult<T>) => void> = [];
  private failure: Error | null = null;
  private closed = false;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  end(error: Error | null = null): void {
    this.closed = true;
    this.failure = error;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined as T, done: true });
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.items.length) return { value: this.items.shift() as T, done: false };
    if (this.closed) {
      if (this.failure) throw this.failure;
      return { value: undefined as T, done: true };
    }
    const result = await new Promise<IteratorResult<T>>((resolve) => this.waiters.push(resolve));
    if (result.done && this.failure) throw this.failure;
    return result;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}

function frameError(frame: JSONObject): Error {
  const body = { error: { ...frame } };
  return errorFromResponse(0, body, new Headers());
}

/** One open WebSocket. Create it with `client.realtime.connect()`. */
export class RealtimeConnection {
  private readonly channels = new Map<string, Queue<StreamEvent>>();
  private readonly requests = new Map<string, Queue<JSONObject>>();
  private nextId = 0;
  private pinger: ReturnType<typeof setInterval> | undefined;
  /** The `auth.ok` frame: `userId`, `workspaceId`. */
  session: JSONObject = {};

  constructor(private readonly ws: WebSocketLike) {}

  /** @internal */
  async open(token: string, workspaceId: string | null, pingSeconds: number): Promise<this> {
    const ready = new Promise<void>((resolve, reject) => {
      this.ws.addEventListener("open", () => {
        this.ws.send(JSON.stringify({ type: "auth", token, ...(workspaceId ? { workspace_id: workspaceId } : {}) }));
      });
      this.ws.addEventListener("message", (event: { data: unknown }) => {
        const frame = JSON.parse(String(event.data)) as JSONObject;
        if (frame.type === "auth.ok") {
          this.session = camelKeys(frame);
          resolve();
        } else this.dispatch(frame);
      });
      this.ws.addEventListener("close", (event: { code: number; reason: string }) => {
        const error =
          event.code === 4401
            ? new AuthenticationError(401, "AUTHENTICATION_FAILED", event.reason || "WebSocket authentication failed")
            : event.code === 1000
              ? null
              : new APIConnectionError(`WebSocket closed (${event.code}) ${event.reason}`);
        reject(error ?? new APIConnectionError("WebSocket closed before authentication"));
        this.shutdown(error);
      });
      this.ws.addEventListener("error", () => reject(new APIConnectionError("WebSocket error")));
    });
    await ready;
    this.pinger = setInterval(() => this.sendFrame({ type: "ping" }), pingSeconds * 1000);
    (this.pinger as { unref?: () => void }).unref?.();
    return this;
  }

  private dispatch(frame: JSONObject): void {
    if (typeof frame.channel === "string" && typeof frame.seq === "number") {
      this.channels.get(frame.channel)?.push(camelKeys<StreamEvent>(frame));
      return;
    }
    const id = frame.id === undefined ? undefined : String(frame.id);
    if (id !== undefined) this.requests.get(id)?.push(frame);
  }

  private shutdown(error: Error | null): void {
    clearInterval(this.pinger);
    for (const queue of [...this.channels.values(), ...this.requests.values()]) queue.end(error);
    this.channels.clear();
    this.requests.clear();
  }

  private sendFrame(frame: JSONObject): void {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  private request(frame: JSONObject): { id: string; replies: Queue<JSONObject> } {
    const id = `sdk-${++this.nextId}`;
    const replies = new Queue<JSONObject>();
    this.requests.set(id, replies);
    this.sendFrame({ ...frame, id });
    return { id, replies };
  }

  private async reply(id: string, replies: Queue<JSONObject>, type: string): Promise<JSONObject> {
    const { value, done } = await replies.next();
    this.requests.delete(id);
    if (done) throw new CodexOSError("WebSocket closed");
    if (value.type === "error") throw frameError(value);
    if (value.type !== type) throw new CodexOSError(`Unexpected frame ${String(value.type)}`);
    return value;
  }

  /**
   * Subscribe to `run:<id>`, `workflow_run:<id>`, `document:<id>`, `job:<id>` or
   * `workspace:<id>` and iterate its events. Break out of the loop to unsubscribe.
   */
  async *subscribe(channel: string, options: { afterSeq?: number } = {}): AsyncGenerator<StreamEvent> {
    const events = new Queue<StreamEvent>();
    this.channels.set(channel, events);
    const { id, replies } = this.request({
      type: "subscribe",
      channel,
      ...(options.afterSeq !== undefined ? { after_seq: options.afterSeq } : {}),
    });
    try {
      await this.reply(id, replies, "subscribed");
      yield* events;
    } finally {
      this.channels.delete(channel);
      this.sendFrame({ type: "unsubscribe", channel });
    }
  }

  /** Chat with an agent: yields `chat.started`, `token`… and ends after `message.completed`. */
  async *chat(
    agentId: string,
    message: string,
    options: { conversationId?: string; variables?: Record<string, string> } = {},
  ): AsyncGenerator<ChatFrame> {
    const { id, replies } = this.request({
      type: "chat",
      agent_id: agentId,
      message,
      ...(options.conversationId ? { conversation_id: options.conversationId } : {}),
      ...(options.variables ? { variables: options.variables } : {}),
    });
    try {
      for await (const frame of replies) {
        if (frame.type === "error") throw frameError(frame);
        yield camelKeys<ChatFrame>(frame);
        if (frame.type === "message.completed") return;
      }
      throw new APIConnectionError("WebSocket closed during chat");
    } finally {
      this.requests.delete(id);
    }
  }

  /** Cancel an agent run (`runId`) or a workflow run (`workflowRunId`). */
  async cancel(target: { runId?: string; workflowRunId?: string }): Promise<JSONObject> {
    const { id, replies } = this.request({ type: "cancel", ...(snakeKeys(target) as JSONObject) });
    return camelKeys(await this.reply(id, replies, "cancelled"));
  }

  async ping(): Promise<void> {
    const { id, replies } = this.request({ type: "ping" });
    await this.reply(id, replies, "pong");
  }

  close(): void {
    this.shutdown(null);
    this.ws.close(1000);
  }
}

export class Realtime {
  constructor(
    private readonly core: Core,
    private readonly WebSocketImpl: WebSocketConstructor | undefined,
  ) {}

  /** The `ws://…/api/v1/ws` URL for this client's base URL. */
  url(): string {
    return `${this.core.baseUrl.replace(/^http/, "ws")}/ws`;
  }

  /** Open and authenticate a connection (uses `options.WebSocket`, the global one, or `ws`). */
  async connect(options: { pingSeconds?: number } = {}): Promise<RealtimeConnection> {
    const token = this.core.credential();
    if (!token) throw new AuthenticationError(401, "AUTHENTICATION_FAILED", "No API key or session for the WebSocket");
    const Impl = this.WebSocketImpl ?? (await defaultWebSocket());
    const connection = new RealtimeConnection(new Impl(this.url()));
    return connection.open(token, this.core.options.workspaceId, options.pingSeconds ?? 25);
  }
}

async function defaultWebSocket(): Promise<WebSocketConstructor> {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global) return global;
  const name = "ws";
  try {
    const mod = (await import(name)) as { default?: WebSocketConstructor; WebSocket?: WebSocketConstructor };
    const Impl = mod.WebSocket ?? mod.default;
    if (Impl) return Impl;
  } catch {
    // fall through
  }
  throw new CodexOSError("No WebSocket implementation: pass `WebSocket` to new CodexOS() or install `ws`");
}
