// Models, provider configs, tools (built-in and custom HTTP tools), workflow import/export,
// inbound hooks and outbound webhooks, knowledge-base reindex, and the marketplace's versions,
// reviews, install updates, unlist/relist and moderation, against a live server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { AuthorizationError, ConflictError, NotFoundError, ValidationError } from "../dist/esm/index.js";
import { makeAccount, sharedServer } from "./helpers.mjs";

let server;
let account;
let admin;
let client;

before(async () => {
  server = await sharedServer();
  account = await makeAccount(server);
  admin = await makeAccount(server, { admin: true });
  client = account.client;
});

after(async () => {
  await server?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(fetchOnce, done, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fetchOnce();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(value)}`);
    await sleep(200);
  }
}

test("models and providers: list models, provider create, list, retrieve, update, delete", async () => {
  const before = await client.models.list();
  assert.ok(before.some((m) => m.id === "scripted/scripted" && m.source === "server" && m.available));

  const provider = await client.providers.create({
    name: "my-vllm",
    baseUrl: "https://llm.example.com/v1",
    apiKey: "sk-test-1234",
    defaultModel: "llama-3-8b",
    models: ["llama-3-70b"],
    timeoutSeconds: 30,
  });
  assert.equal(provider.name, "my-vllm");
  assert.equal(provider.hasApiKey, true);
  assert.equal(provider.apiKeyLastFour, "1234");
  assert.equal(provider.timeoutSeconds, 30);
  assert.equal("apiKey" in provider, false, "the key is never returned");
  await assert.rejects(client.providers.create({ name: "my-vllm" }), ConflictError);

  const models = await client.models.list();
  const ours = models.filter((m) => m.provider === "my-vllm").map((m) => m.id).sort();
  assert.deepEqual(ours, ["my-vllm/llama-3-70b", "my-vllm/llama-3-8b"]);
  assert.ok(models.filter((m) => m.provider === "my-vllm").every((m) => m.source === "workspace"));

  assert.deepEqual((await client.providers.list().toArray()).map((p) => p.id), [provider.id]);
  assert.equal((await client.providers.retrieve(provider.id)).defaultModel, "llama-3-8b");
  const updated = await client.providers.update(provider.id, { defaultModel: "llama-3-70b", maxRetries: 0, apiKey: "sk-new-9876" });
  assert.equal(updated.defaultModel, "llama-3-70b");
  assert.equal(updated.maxRetries, 0);
  assert.equal(updated.apiKeyLastFour, "9876");
  await client.providers.delete(provider.id);
  await assert.rejects(client.providers.retrieve(provider.id), NotFoundError);
  assert.deepEqual(await client.providers.list().toArray(), []);
});

test("tools: built-ins, custom HTTP tools create, list, delete", async () => {
  const builtins = await client.tools.list();
  assert.ok(builtins.length > 0 && builtins.every((t) => t.kind === "builtin"));
  assert.ok(builtins.some((t) => t.name === "calculator"));
  const names = builtins.map((t) => t.name);
  assert.deepEqual(names, [...names].sort());

  const parameters = { type: "object", properties: { city_name: { type: "string" } }, required: ["city_name"] };
  const tool = await client.tools.createCustom({
    name: "weather",
    description: "Current weather for a city",
    parameters,
    method: "GET",
    urlTemplate: "https://api.example.com/weather?city={city_name}",
    headers: { "X-Api-Key": "secret-value" },
  });
  assert.equal(tool.name, "weather");
  assert.equal(tool.urlTemplate, "https://api.example.com/weather?city={city_name}");
  assert.deepEqual(tool.parameters, parameters, "the JSON schema keeps its keys");
  assert.deepEqual(tool.headerNames, ["X-Api-Key"]);
  assert.equal(JSON.stringify(tool).includes("secret-value"), false);
  await assert.rejects(
    client.tools.createCustom({ name: "calculator", parameters, urlTemplate: "https://api.example.com/x" }),
    ValidationError,
  );

  assert.deepEqual((await client.tools.listCustom()).map((t) => t.id), [tool.id]);
  const all = await client.tools.list();
  assert.deepEqual(all.filter((t) => t.kind === "custom").map((t) => t.name), ["weather"]);

  // read-only keys may list but not define tools
  const key = await client.apiKeys.create({ name: "reader", scopes: ["agents:read"] });
  const reader = new (client.constructor)({ baseUrl: server.baseUrl, apiKey: key.key });
  assert.equal((await reader.tools.listCustom()).length, 1);
  await assert.rejects(reader.tools.deleteCustom(tool.id), AuthorizationError);

  await client.tools.deleteCustom(tool.id);
  assert.deepEqual(await client.tools.listCustom(), []);
  await assert.rejects(client.tools.deleteCustom(tool.id), NotFoundError);
});

const node = (id, type, config = {}) => ({ id, type, config });
const greetSpec = {
  nodes: [node("in", "input"), node("say", "template", { template: "hello {{ inputs.user_name }}" })],
  edges: [{ source: "in", target: "say" }],
};

test("workflows: versions, export and import (JSON and YAML), hooks, outbound webhooks", async () => {
  const wf = await client.workflows.create({ name: "Greeter", description: "greets", spec: greetSpec });
  const v2spec = { ...greetSpec, nodes: [greetSpec.nodes[0], node("say", "template", { template: "hi {{ inputs.user_name }}" })] };
  await client.workflows.update(wf.id, { spec: v2spec });
  const versions = await client.workflows.versions(wf.id);
  assert.deepEqual(versions.map((v) => v.version), [2, 1]);
  assert.equal(versions[1].spec.nodes[1].config.template, "hello {{ inputs.user_name }}");
  assert.equal(versions[0].name, "Greeter");

  const json = await client.workflows.export(wf.id);
  assert.equal(typeof json, "string");
  const parsed = JSON.parse(json);
  assert.equal(parsed.name, "Greeter");
  assert.deepEqual(parsed.spec.nodes[1].config, { template: "hi {{ inputs.user_name }}" });
  const yaml = await client.workflows.export(wf.id, { format: "yaml" });
  assert.match(yaml, /name: Greeter/);

  const fromJson = await client.workflows.import(json);
  assert.notEqual(fromJson.id, wf.id);
  assert.equal(fromJson.name, "Greeter");
  assert.deepEqual(fromJson.spec, (await client.workflows.retrieve(wf.id)).spec);
  const fromObject = await client.workflows.import({ ...parsed, name: "Greeter (object)" });
  assert.equal(fromObject.name, "Greeter (object)");
  const fromYaml = await client.workflows.import(yaml);
  assert.equal(fromYaml.name, "Greeter");
  assert.deepEqual(fromYaml.spec, fromJson.spec);
  await assert.rejects(client.workflows.import({ format: "something-else" }), ValidationError);
  await assert.rejects(client.workflows.export("no-such-workflow"), NotFoundError);

  const hook = await client.workflows.createHook(wf.id);
  assert.equal(hook.workflowId, wf.id);
  assert.ok(hook.url && hook.secret, "url and secret shown at creation");
  const hooks = await client.workflows.hooks(wf.id).toArray();
  assert.deepEqual(hooks.map((h) => h.id), [hook.id]);
  assert.equal(hooks[0].secret, null, "the secret is not shown again");
  await client.workflows.deleteHook(wf.id, hook.id);
  assert.deepEqual(await client.workflows.hooks(wf.id).toArray(), []);

  const webhook = await client.workflows.createWebhook(wf.id, { url: "https://hooks.example.com/codexos", events: ["run.succeeded"] });
  assert.equal(webhook.url, "https://hooks.example.com/codexos");
  assert.deepEqual(webhook.events, ["run.succeeded"]);
  assert.ok(webhook.id && webhook.secret);
  const webhooks = await client.workflows.webhooks(wf.id);
  assert.deepEqual(webhooks.map((w) => w.id), [webhook.id]);
  assert.equal(webhooks[0].secret, undefined);
  await assert.rejects(client.workflows.createWebhook(wf.id, { url: "http://127.0.0.1:9/x" }), ValidationError);
  assert.deepEqual(await client.workflows.webhookDeliveries(wf.id).toArray(), []);
  await client.workflows.deleteWebhook(wf.id, webhook.id);
  assert.deepEqual(await client.workflows.webhooks(wf.id), []);

  for (const id of [wf.id, fromJson.id, fromObject.id, fromYaml.id]) await client.workflows.delete(id);
});

test("knowledgeBases: reindex", async () => {
  const kb = await client.knowledgeBases.create({ name: "Reindexed", chunking: { size: 64, overlap: 8 } });
  const doc = await client.knowledgeBases.upload(kb.id, { text: "Puffins nest in burrows on cliff tops.", name: "puffins.txt" });
  const indexed = (d) => ["indexed", "failed"].includes(d.status);
  assert.equal((await until(() => client.knowledgeBases.document(kb.id, doc.id), indexed, 120_000)).status, "indexed");
  const again = await client.knowledgeBases.reindex(kb.id);
  assert.equal(again.id, kb.id);
  const ready = await until(() => client.knowledgeBases.document(kb.id, doc.id), indexed, 120_000);
  assert.equal(ready.status, "indexed", JSON.stringify(ready));
  const answer = await client.knowledgeBases.query(kb.id, { query: "Where do puffins nest?" });
  assert.ok(answer.results.length > 0);
  await assert.rejects(client.knowledgeBases.reindex("no-such-kb"), NotFoundError);
  await client.knowledgeBases.delete(kb.id);
});

test("marketplace: review queue, approve, versions, install update, reviews (edit, reply, delete), unlist/relist, reject, remove", async () => {
  const agent = await client.agents.create({ name: "Versioned bot", instructions: "v1" });
  const listing = await client.marketplace.create({ title: "Versioned bot", summary: "v1", resourceType: "agent", resourceId: agent.id });
  assert.equal(listing.latestVersion, 1);
  await client.marketplace.submit(listing.id);
  await assert.rejects(client.marketplace.reviewQueue().toArray(), AuthorizationError);
  assert.ok((await admin.client.marketplace.reviewQueue().toArray()).some((l) => l.id === listing.id));
  assert.equal((await admin.client.marketplace.approve(listing.id)).status, "published");
  assert.equal((await admin.client.marketplace.reviewQueue().toArray()).some((l) => l.id === listing.id), false);

  const buyer = await makeAccount(server);
  const install = await buyer.client.marketplace.install(listing.id);
  assert.equal(install.version, 1);

  await client.agents.update(agent.id, { instructions: "v2" });
  const v2 = await client.marketplace.createVersion(listing.id, { changelog: "sharper" });
  assert.equal(v2.version, 2);
  assert.equal(v2.changelog, "sharper");
  assert.equal(typeof v2.requirements, "object");
  const mine = await client.marketplace.version(listing.id, 2);
  assert.equal(mine.version, 2);
  assert.ok(mine.package, "the listing's workspace sees the package");
  assert.equal((await buyer.client.marketplace.version(listing.id, 1)).package, null);
  await assert.rejects(buyer.client.marketplace.version(listing.id, 9), NotFoundError);

  assert.equal((await buyer.client.marketplace.retrieveInstall(install.id)).latestVersion, 2);
  const updated = await buyer.client.marketplace.updateInstall(install.id);
  assert.equal(updated.version, 2);
  assert.ok(Array.isArray(updated.kept));
  const pinned = await buyer.client.marketplace.updateInstall(install.id, { version: 1 });
  assert.equal(pinned.version, 1);

  const review = await buyer.client.marketplace.review(listing.id, { rating: 3, body: "ok" });
  const edited = await buyer.client.marketplace.updateReview(review.id, { rating: 4, body: "good" });
  assert.equal(edited.rating, 4);
  assert.equal(edited.body, "good");
  const replied = await client.marketplace.replyToReview(review.id, { body: "thanks!" });
  assert.equal(replied.reply, "thanks!");
  assert.ok(replied.repliedAt);
  await assert.rejects(client.marketplace.replyToReview(review.id, { body: "again" }), ConflictError);
  await buyer.client.marketplace.deleteReview(review.id);
  assert.deepEqual(await client.marketplace.reviews(listing.id).toArray(), []);

  assert.equal((await client.marketplace.unlist(listing.id)).status, "unlisted");
  assert.equal((await client.marketplace.listings({ q: "Versioned" }).toArray()).some((l) => l.id === listing.id), false);
  assert.equal((await client.marketplace.relist(listing.id)).status, "published");
  assert.ok((await client.marketplace.listings({ q: "Versioned" }).toArray()).some((l) => l.id === listing.id));

  const removed = await admin.client.marketplace.remove(listing.id, { reason: "policy" });
  assert.equal(removed.status, "removed");
  assert.equal((await client.marketplace.retrieve(listing.id)).moderationNote, "policy");
  await assert.rejects(admin.client.marketplace.remove(listing.id, { reason: "" }));

  const draft = await client.marketplace.create({ title: "Thin", resourceType: "agent", resourceId: agent.id });
  await client.marketplace.submit(draft.id);
  const rejected = await admin.client.marketplace.reject(draft.id, { reason: "too thin" });
  assert.equal(rejected.status, "draft");
  assert.equal(rejected.moderationNote, "too thin");
  await client.marketplace.delete(draft.id);
});
