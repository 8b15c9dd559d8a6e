// Auth, users, API keys, workspaces, agents, runs and conversations against a live server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CodexOS, NotFoundError, Paginator } from "../dist/esm/index.js";
import { PASSWORD, makeAccount, sharedServer } from "./helpers.mjs";

let server;
let account;
let client;

before(async () => {
  server = await sharedServer();
  account = await makeAccount(server);
  client = account.client;
});

after(async () => {
  await server?.stop();
});

test("auth: register, login, refresh, scopes, change password, logout", async () => {
  const anon = new CodexOS({ baseUrl: `${server.baseUrl}/api/v1`, apiKey: null });
  const email = `auth-${process.pid}@example.com`;
  const user = await anon.auth.register({ email, password: PASSWORD, name: "Auth" });
  assert.equal(user.email, email);
  assert.equal(user.isDisabled, false);
  const pair = await anon.auth.login({ email, password: PASSWORD });
  assert.ok(pair.accessToken && pair.refreshToken);
  assert.equal(pair.tokenType, "bearer");
  const refreshed = await anon.auth.refresh();
  assert.notEqual(refreshed.refreshToken, pair.refreshToken);
  assert.equal((await anon.users.me()).email, email);
  // an expired or bad access token is refreshed once, transparently
  anon.core.tokens.accessToken = "not-a-valid-token";
  assert.equal((await anon.users.me()).email, email);
  assert.notEqual(anon.core.tokens.accessToken, "not-a-valid-token");
  assert.equal((await anon.health()).status, "ok");
  const scopes = await anon.auth.scopes();
  assert.ok(scopes.some((s) => s.name === "agents:execute"));
  await anon.auth.changePassword({ currentPassword: PASSWORD, newPassword: `${PASSWORD}-2` });
  await anon.auth.login({ email, password: `${PASSWORD}-2` });
  await anon.auth.logout();
  assert.equal(anon.core.tokens, null);
});

test("users: me, updateMe, deleteMe", async () => {
  assert.equal(account.me.email, account.email);
  const updated = await client.users.updateMe({ name: "Renamed" });
  assert.equal(updated.name, "Renamed");
  const doomed = await makeAccount(server);
  await doomed.session.users.deleteMe();
  await assert.rejects(doomed.client.users.me(), (e) => e.status === 401);
});

test("apiKeys: create, list, revoke", async () => {
  const key = await client.apiKeys.create({ name: "temp", scopes: ["agents:read"], expiresInDays: 1 });
  assert.match(key.key, /^cxo_/);
  assert.deepEqual(key.scopes, ["agents:read"]);
  const listed = await account.session.apiKeys.list().toArray();
  assert.ok(listed.some((k) => k.id === key.id && k.lastFour === key.lastFour));
  await account.session.apiKeys.revoke(key.id);
  const limited = new CodexOS({ baseUrl: server.baseUrl, apiKey: key.key, maxRetries: 0 });
  await assert.rejects(limited.agents.list().firstPage(), (e) => e.status === 401);
});

test("workspaces: create, list, retrieve, update, invite, members, delete", async () => {
  const ws = await account.session.workspaces.create({ name: "Team" });
  assert.equal(ws.isPersonal, false);
  assert.equal(ws.role, "owner");
  const all = await account.session.workspaces.list().toArray();
  assert.ok(all.some((w) => w.id === ws.id) && all.some((w) => w.isPersonal), JSON.stringify(all));
  assert.equal((await account.session.workspaces.retrieve(ws.id)).name, "Team");
  assert.equal((await account.session.workspaces.update(ws.id, { name: "Team 2" })).name, "Team 2");

  const other = await makeAccount(server);
  const invitation = await account.session.workspaces.invite(ws.id, { email: other.email, role: "member" });
  assert.ok(invitation.token);
  const pending = await account.session.workspaces.invitations(ws.id).toArray();
  assert.deepEqual(pending.map((i) => i.id), [invitation.id]);
  await other.session.workspaces.acceptInvitation({ token: invitation.token });
  const members = await account.session.workspaces.members(ws.id).toArray();
  assert.deepEqual(members.map((m) => m.role).sort(), ["member", "owner"]);
  const changed = await account.session.workspaces.updateMember(ws.id, other.me.id, { role: "admin" });
  assert.equal(changed.role, "admin");
  await account.session.workspaces.transferOwnership(ws.id, { userId: other.me.id });
  const afterTransfer = await account.session.workspaces.members(ws.id).toArray();
  assert.equal(afterTransfer.find((m) => m.role === "owner").userId, other.me.id);
  await other.session.workspaces.transferOwnership(ws.id, { userId: account.me.id });
  await account.session.workspaces.removeMember(ws.id, other.me.id);
  assert.equal((await account.session.workspaces.members(ws.id).toArray()).length, 1);

  const second = await account.session.workspaces.invite(ws.id, { email: "nobody@example.com" });
  await account.session.workspaces.revokeInvitation(ws.id, second.id);
  await account.session.workspaces.delete(ws.id);
  await assert.rejects(account.session.workspaces.retrieve(ws.id), NotFoundError);

  // workspaceId selects the workspace (X-Workspace-ID) for a session.
  const ws3 = await account.session.workspaces.create({ name: "Scoped" });
  const scoped = new CodexOS({ baseUrl: server.baseUrl, apiKey: null, workspaceId: ws3.id });
  await scoped.auth.login({ email: account.email, password: PASSWORD });
  const made = await scoped.agents.create({ name: "in scoped" });
  assert.equal(made.workspaceId, ws3.id);
});

test("agents: create, retrieve, update, list (paginated), versions, duplicate, delete", async () => {
  const agent = await client.agents.create({
    name: "Helper",
    description: "helps",
    maxSteps: 3,
    variables: { user_name: "Ada", camelKey: "kept" },
  });
  assert.equal(agent.maxSteps, 3);
  // free-form values keep their keys in both directions
  assert.deepEqual(agent.variables, { user_name: "Ada", camelKey: "kept" });
  assert.equal(agent.knowledgeBaseIds.length, 0);
  assert.equal((await client.agents.retrieve(agent.id)).name, "Helper");
  const updated = await client.agents.update(agent.id, { instructions: "Be brief", model: { maxTokens: 64 } });
  assert.equal(updated.version, 2);
  assert.equal(updated.model.maxTokens, 64);
  const versions = await client.agents.versions(agent.id);
  assert.deepEqual(versions.map((v) => v.version).sort(), [1, 2]);
  assert.equal((await client.agents.version(agent.id, 1)).snapshot.instructions, "");
  const copy = await client.agents.duplicate(agent.id);
  assert.notEqual(copy.id, agent.id);

  for (let i = 0; i < 3; i++) await client.agents.create({ name: `page-${i}` });
  const list = client.agents.list({ limit: 2 });
  assert.ok(list instanceof Paginator);
  const first = await list.firstPage();
  assert.equal(first.items.length, 2);
  assert.ok(first.nextCursor);
  const seen = [];
  for await (const a of client.agents.list({ limit: 2 })) seen.push(a.id);
  assert.equal(new Set(seen).size, seen.length);
  assert.ok(seen.includes(agent.id) && seen.includes(copy.id) && seen.length >= 5);
  const found = await client.agents.list({ search: "page-" }).toArray();
  assert.equal(found.length, 3);

  await client.agents.delete(copy.id);
  await assert.rejects(client.agents.retrieve(copy.id), (e) => e instanceof NotFoundError && e.code === "RESOURCE_NOT_FOUND");
});

test("agents: execute, stream, runs; runs: list, retrieve, events, cancel", async () => {
  const agent = await client.agents.create({ name: "Echo" });
  const run = await client.agents.execute(agent.id, { inputData: "hello there" });
  assert.equal(run.status, "succeeded");
  assert.equal(run.output, "echo: hello there");
  assert.ok(run.usage.totalTokens > 0 && run.usage.promptTokens > 0);
  const structured = await client.agents.execute(agent.id, { inputData: { some_key: "v" } });
  assert.deepEqual(structured.input, { some_key: "v" });

  const events = [];
  for await (const event of client.agents.stream(agent.id, { inputData: "streamed" })) events.push(event);
  assert.equal(events[0].type, "run.started");
  assert.equal(events.at(-1).type, "run.succeeded");
  const tokens = events.filter((e) => e.type === "token").map((e) => e.data.delta).join("");
  assert.equal(tokens, "echo: streamed");
  assert.equal(events.at(-1).data.runId, events[0].data.runId);

  const queued = await client.agents.execute(agent.id, { inputData: "later", async: true });
  assert.ok(["queued", "running", "succeeded"].includes(queued.status));
  const replay = [];
  for await (const e of client.runs.events(queued.id)) replay.push(e.type);
  assert.equal(replay.at(-1), "run.succeeded");

  const agentRuns = await client.agents.runs(agent.id).toArray();
  assert.equal(agentRuns.length, 4);
  const all = await client.runs.list({ agentId: agent.id, status: "succeeded" }).toArray();
  assert.equal(all.length, 4);
  const detail = await client.runs.retrieve(run.id);
  assert.equal(detail.id, run.id);
  assert.ok(Array.isArray(detail.steps));
  const cancelled = await client.runs.cancel(queued.id);
  assert.equal(cancelled.id, queued.id);
  assert.equal(cancelled.status, "succeeded"); // already finished: cancelling changes nothing
});

test("conversations: create, list, send, stream, messages, retrieve, delete", async () => {
  const agent = await client.agents.create({ name: "Chatty" });
  const conv = await client.conversations.create(agent.id, { title: "First" });
  assert.equal(conv.agentId, agent.id);
  assert.equal((await client.conversations.list(agent.id).toArray())[0].id, conv.id);
  const run = await client.conversations.send(conv.id, { content: "hi" });
  assert.equal(run.conversationId, conv.id);
  assert.equal(run.output, "echo: hi");
  const types = [];
  for await (const e of client.conversations.stream(conv.id, { content: "again" })) types.push(e.type);
  assert.equal(types.at(-1), "run.succeeded");
  const messages = await client.conversations.messages(conv.id).toArray();
  messages.sort((a, b) => a.position - b.position);
  assert.deepEqual(messages.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
  assert.equal((await client.conversations.retrieve(conv.id)).messageCount, 4);
  await client.conversations.delete(conv.id);
  await assert.rejects(client.conversations.retrieve(conv.id), NotFoundError);
});
