// Workflows, knowledge bases, marketplace, billing, monitoring, jobs, OAuth apps and admin
// user management against a live server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { APIError, CodexOS, ConflictError, NotFoundError, ValidationError } from "../dist/esm/index.js";
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

const node = (id, type, config = {}) => ({ id, type, config });
const approvalSpec = {
  nodes: [
    node("in", "input"),
    node("ask", "human_approval", { prompt: "Publish {{ inputs.post_title }}?" }),
    node("yes", "template", { template: "published" }),
    node("no", "template", { template: "dropped" }),
  ],
  edges: [
    { source: "in", target: "ask" },
    { source: "ask", target: "yes", branch: "approved" },
    { source: "ask", target: "no", branch: "rejected" },
  ],
};

test("workflows: validate, create, retrieve, update, list, versions, run, runs, events, approve, reject, cancel, schedules, delete", async () => {
  await assert.rejects(
    client.workflows.validate({ spec: { nodes: [node("x", "no_such_type")], edges: [] } }),
    (e) => e instanceof ValidationError && e.details !== null && e.requestId.startsWith("req_"),
  );
  assert.equal((await client.workflows.validate({ spec: approvalSpec })).valid, true);

  const wf = await client.workflows.create({ name: "Publish", spec: approvalSpec });
  // the spec is free-form: its keys (and config template text) come back untouched
  assert.deepEqual(wf.spec.nodes[1].config, { prompt: "Publish {{ inputs.post_title }}?" });
  assert.equal((await client.workflows.retrieve(wf.id)).name, "Publish");
  const renamed = await client.workflows.update(wf.id, { name: "Publish 2" });
  assert.equal(renamed.name, "Publish 2");
  assert.ok((await client.workflows.list().toArray()).some((w) => w.id === wf.id));
  assert.ok((await client.workflows.versions(wf.id)).some((v) => v.version === 1));

  const run = await client.workflows.run(wf.id, { inputs: { post_title: "Tides" } });
  assert.deepEqual(run.inputs, { post_title: "Tides" });
  const waiting = await until(() => client.workflows.retrieveRun(run.id), (r) => r.status === "waiting");
  assert.equal(waiting.approvals[0].prompt, "Publish Tides?");
  const pending = await client.workflows.approvals().toArray();
  assert.deepEqual(pending.map((a) => a.runId), [run.id]);
  const approval = await client.workflows.approve(run.id, "ask", { comment: "ok" });
  assert.equal(approval.status, "approved");
  await assert.rejects(client.workflows.approve(run.id, "ask"), ConflictError);
  const done = await until(() => client.workflows.retrieveRun(run.id), (r) => r.status === "succeeded");
  assert.equal(done.workflowId, wf.id);
  const types = [];
  for await (const e of client.workflows.events(run.id)) {
    types.push(e.type);
    if (["workflow_run.succeeded", "run.succeeded"].includes(e.type) || e.data?.status === "succeeded") break;
  }
  assert.ok(types.length > 0);

  const second = await client.workflows.run(wf.id, { inputs: { post_title: "Waves" } });
  await until(() => client.workflows.retrieveRun(second.id), (r) => r.status === "waiting");
  assert.equal((await client.workflows.reject(second.id, "ask", { comment: "no" })).status, "rejected");

  const third = await client.workflows.run(wf.id, { inputs: { post_title: "Foam" } });
  await until(() => client.workflows.retrieveRun(third.id), (r) => r.status === "waiting");
  const cancelled = await client.workflows.cancel(third.id);
  assert.ok(["cancelled", "cancelling"].includes(cancelled.status), cancelled.status);

  await assert.rejects(client.workflows.resume(run.id), ConflictError); // only failed runs resume
  const rerun = await client.workflows.rerun(second.id);
  assert.notEqual(rerun.id, second.id);
  assert.deepEqual(rerun.inputs, { post_title: "Waves" });
  assert.equal(rerun.trigger, "rerun");
  await until(() => client.workflows.retrieveRun(rerun.id), (r) => r.status === "waiting");
  await client.workflows.cancel(rerun.id);

  const ofWorkflow = await client.workflows.runs(wf.id).toArray();
  assert.equal(ofWorkflow.length, 4);
  assert.ok((await client.workflows.runs().toArray()).length >= 3);

  const schedule = await client.workflows.createSchedule(wf.id, { cron: "0 9 * * 1", inputs: { post_title: "Weekly" } });
  assert.deepEqual(schedule.inputs, { post_title: "Weekly" });
  assert.equal((await client.workflows.schedules(wf.id).toArray())[0].id, schedule.id);
  await client.workflows.deleteSchedule(wf.id, schedule.id);
  await client.workflows.delete(wf.id);
});

test("knowledgeBases: create, upload (file and text), documents, query, update, delete", async () => {
  const kb = await client.knowledgeBases.create({ name: "Docs", chunking: { size: 64, overlap: 8 } });
  assert.equal(kb.chunking.size, 64);
  assert.ok((await client.knowledgeBases.list().toArray()).some((k) => k.id === kb.id));
  const text = "# Tides\n\nThe tide tables for Brest are published every Monday by the harbour office.\n";
  const doc = await client.knowledgeBases.upload(kb.id, {
    file: new TextEncoder().encode(text),
    name: "tides.md",
    tags: ["sea"],
    metadata: { source_team: "harbour" },
  });
  assert.equal(doc.name, "tides.md");
  const note = await client.knowledgeBases.upload(kb.id, { text: "Otters sleep holding hands.", name: "otters.txt" });
  for (const id of [doc.id, note.id]) {
    const ready = await until(() => client.knowledgeBases.document(kb.id, id), (d) => ["indexed", "failed"].includes(d.status), 120_000);
    assert.equal(ready.status, "indexed", JSON.stringify(ready));
  }
  assert.deepEqual((await client.knowledgeBases.document(kb.id, doc.id)).metadata, { source_team: "harbour" });
  const docs = await client.knowledgeBases.documents(kb.id, { status: "indexed" }).toArray();
  assert.equal(docs.length, 2);
  const answer = await client.knowledgeBases.query(kb.id, { query: "tide tables Brest", mode: "keyword", topK: 3 });
  assert.equal(answer.results[0].documentId, doc.id);
  assert.ok(answer.results[0].chunkId && answer.results[0].citation);
  assert.equal((await client.knowledgeBases.update(kb.id, { description: "harbour" })).description, "harbour");
  assert.equal((await client.knowledgeBases.retrieve(kb.id)).documentCount, 2);
  await client.knowledgeBases.deleteDocument(kb.id, note.id);
  await client.knowledgeBases.delete(kb.id);
});

test("marketplace and billing: publish, approve, grant, purchase (idempotent), install, review, transactions, refund", async () => {
  const agent = await client.agents.create({ name: "Seller bot" });
  const listing = await client.marketplace.create({
    title: "Seller bot",
    summary: "sells",
    resourceType: "agent",
    resourceId: agent.id,
    pricing: { model: "one_time", price: 5 },
  });
  assert.equal(listing.status, "draft");
  assert.equal((await client.marketplace.update(listing.id, { summary: "sells well" })).summary, "sells well");
  assert.equal((await client.marketplace.submit(listing.id)).status, "pending_review");
  assert.equal((await admin.client.marketplace.approve(listing.id)).status, "published");
  assert.ok((await client.marketplace.mine().toArray()).some((l) => l.id === listing.id));
  assert.ok((await client.marketplace.listings({ q: "Seller" }).toArray()).some((l) => l.id === listing.id));
  assert.equal((await client.marketplace.retrieve(listing.id)).title, "Seller bot");

  const buyer = await makeAccount(server);
  const grant = await admin.client.billing.grant({ workspaceId: buyer.key.workspaceId, credits: 20, reason: "test" });
  assert.equal(grant.amount, 20);
  assert.equal((await buyer.client.billing.wallet()).balance, 20);
  const key = "purchase-once";
  const purchase = await buyer.client.marketplace.purchase(listing.id, { idempotencyKey: key });
  const again = await buyer.client.marketplace.purchase(listing.id, { idempotencyKey: key });
  assert.equal(again.id, purchase.id);
  assert.equal((await buyer.client.billing.wallet()).balance, 15);
  assert.equal((await buyer.client.marketplace.purchases().toArray()).length, 1);
  const install = await buyer.client.marketplace.install(listing.id, { name: "My copy" });
  assert.equal(install.listingId, listing.id);
  assert.equal((await buyer.client.marketplace.installs().toArray())[0].id, install.id);
  const review = await buyer.client.marketplace.review(listing.id, { rating: 5, body: "great" });
  assert.equal(review.rating, 5);
  assert.equal((await client.marketplace.reviews(listing.id).toArray())[0].body, "great");

  const txs = await buyer.client.billing.transactions().toArray();
  assert.ok(txs.some((t) => t.id === purchase.transactionId));
  const tx = await buyer.client.billing.transaction(purchase.transactionId);
  assert.equal(tx.amount, 5);
  const earnings = await client.billing.earnings({ period: "day" });
  assert.ok(earnings.total > 0 && earnings.total <= 5, JSON.stringify(earnings));
  const refund = await admin.client.billing.refund(purchase.transactionId, { reason: "test" });
  assert.equal(refund.refundOf, purchase.transactionId);
  const noRetry = new CodexOS({ baseUrl: server.baseUrl, apiKey: buyer.key.key, maxRetries: 0 });
  await assert.rejects(
    noRetry.billing.checkout({ credits: 10, successUrl: "https://example.com/ok", cancelUrl: "https://example.com/no" }),
    (e) => e instanceof APIError && e.status >= 400 && e.requestId.startsWith("req_"), // no Stripe here
  );

  const draft = await client.marketplace.create({ title: "Draft", resourceType: "agent", resourceId: agent.id });
  await client.marketplace.submit(draft.id);
  assert.equal((await admin.client.marketplace.reject(draft.id, { reason: "thin" })).status, "draft"); // back to its author
  await client.marketplace.delete(draft.id);
});

test("monitoring, jobs, users (admin)", async () => {
  const agent = await client.agents.create({ name: "Measured" });
  await client.agents.execute(agent.id, { inputData: "one" });
  const queued = await client.agents.execute(agent.id, { inputData: "two", async: true });
  const metrics = await client.monitoring.metrics({ window: "24h" });
  assert.ok(metrics.runs.count >= 1, JSON.stringify(metrics));
  const stats = await client.monitoring.agentStats(agent.id, { window: "24h" });
  assert.equal(stats.agentId, agent.id);
  assert.ok(stats.runs >= 1 && stats.latency.p50Ms >= 0, JSON.stringify(stats));
  assert.ok(typeof (await client.monitoring.usage({ window: "24h" })) === "object");
  assert.ok(typeof (await admin.client.monitoring.system()) === "object");
  const budget = await client.monitoring.createBudget({ metric: "tokens", limit: 1000 });
  assert.equal(budget.limit, 1000);
  assert.equal((await client.monitoring.updateBudget(budget.id, { limit: 2000 })).limit, 2000);
  assert.deepEqual((await client.monitoring.budgets()).map((b) => b.id), [budget.id]);
  await client.monitoring.deleteBudget(budget.id);

  const job = await until(() => client.jobs.retrieve(queued.jobId), (j) => j.status === "succeeded");
  assert.equal(job.kind.length > 0, true);
  assert.ok((await client.jobs.list({ status: "succeeded" }).toArray()).some((j) => j.id === job.id));
  assert.equal((await client.jobs.cancel(job.id)).status, "succeeded"); // finished: unchanged

  const users = await admin.client.users.list().toArray();
  assert.ok(users.some((u) => u.id === account.me.id));
  assert.equal((await admin.client.users.retrieve(account.me.id)).email, account.email);
  assert.equal((await admin.client.users.update(account.me.id, { tier: "pro" })).tier, "pro");
});

test("oauthApps: create, list, retrieve, update, rotateSecret, authorizations, delete", async () => {
  const app = await client.oauthApps.create({
    name: "Integration",
    redirectUris: ["https://example.com/callback"],
    scopes: ["agents:read"],
  });
  assert.ok(app.clientSecret && app.clientId);
  assert.deepEqual(app.redirectUris, ["https://example.com/callback"]);
  assert.ok((await client.oauthApps.list()).some((a) => a.id === app.id));
  assert.equal((await client.oauthApps.retrieve(app.id)).name, "Integration");
  assert.equal((await client.oauthApps.update(app.id, { name: "Renamed" })).name, "Renamed");
  const rotated = await client.oauthApps.rotateSecret(app.id);
  assert.notEqual(rotated.clientSecret, app.clientSecret);
  assert.deepEqual(await account.session.oauthApps.authorizations(), []);
  await assert.rejects(account.session.oauthApps.revokeAuthorization("no-such-authorization"), NotFoundError);
  await client.oauthApps.delete(app.id);
  await assert.rejects(client.oauthApps.create({ name: "", redirectUris: [], scopes: [] }), ValidationError);
});
