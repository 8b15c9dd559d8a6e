// The WebSocket helpers against a live server: subscribe to a run's channel, chat, cancel, errors.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import WebSocket from "ws";

import { AuthenticationError, CodexOS, NotFoundError } from "../dist/esm/index.js";
import { makeAccount, sharedServer } from "./helpers.mjs";

let server;
let account;

before(async () => {
  server = await sharedServer();
  account = await makeAccount(server);
});

after(async () => {
  await server?.stop();
});

test("realtime: chat streams tokens and ends with message.completed", async () => {
  const agent = await account.client.agents.create({ name: "Talker" });
  const conn = await account.client.realtime.connect(); // finds `ws` by itself on Node 20
  try {
    assert.equal(conn.session.type, "auth.ok");
    assert.equal(conn.session.workspaceId, account.key.workspaceId);
    await conn.ping();
    const frames = [];
    for await (const frame of conn.chat(agent.id, "hello ws")) frames.push(frame);
    assert.equal(frames[0].type, "chat.started");
    assert.equal(frames.at(-1).type, "message.completed");
    assert.equal(frames.at(-1).output, "echo: hello ws");
    assert.equal(frames.filter((f) => f.type === "token").map((f) => f.delta).join(""), "echo: hello ws");
    const { conversationId, runId } = frames[0];
    const next = [];
    for await (const frame of conn.chat(agent.id, "again", { conversationId })) next.push(frame);
    assert.equal(next.at(-1).conversationId, conversationId);
    assert.equal((await account.client.runs.retrieve(runId)).status, "succeeded");
  } finally {
    conn.close();
  }
});

test("realtime: subscribe replays and follows a run's events; cancel; errors", async () => {
  const client = new CodexOS({ baseUrl: server.baseUrl, apiKey: account.key.key, WebSocket });
  const agent = await client.agents.create({ name: "Watched" });
  const run = await client.agents.execute(agent.id, { inputData: "watch me" });
  const conn = await client.realtime.connect();
  try {
    const types = [];
    for await (const event of conn.subscribe(`run:${run.id}`, { afterSeq: 0 })) {
      assert.equal(event.channel, `run:${run.id}`);
      types.push(event.type);
      if (event.type === "run.succeeded") {
        assert.equal(event.data.output, "echo: watch me");
        assert.equal(event.data.runId, run.id);
        break; // leaving the loop unsubscribes
      }
    }
    assert.equal(types[0], "run.started");
    const cancelled = await conn.cancel({ runId: run.id });
    assert.equal(cancelled.runId, run.id);
    assert.equal(cancelled.status, "succeeded");
    await assert.rejects(async () => {
      for await (const _ of conn.subscribe("run:no-such-run")) break;
    }, NotFoundError);
    await assert.rejects(async () => {
      for await (const _ of conn.chat("no-such-agent", "hi")) break;
    }, NotFoundError);
  } finally {
    conn.close();
  }
  const bad = new CodexOS({ baseUrl: server.baseUrl, apiKey: "cxo_not_a_key", WebSocket });
  await assert.rejects(bad.realtime.connect(), AuthenticationError);
});
