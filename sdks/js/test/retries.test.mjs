// Retries and error mapping against a live server: a real 429 (a tiny login rate limit) waited
// out, a POST whose response is dropped by a local proxy retried with the same Idempotency-Key
// and executed once, and each error code mapped to its class with requestId set.
import assert from "node:assert/strict";
import { connect, createServer } from "node:net";
import { after, before, test } from "node:test";

import {
  APIConnectionError,
  APITimeoutError,
  AuthenticationError,
  AuthorizationError,
  CodexOS,
  InternalServerError,
  NotFoundError,
  RateLimitError,
  ValidationError,
} from "../dist/esm/index.js";
import { PASSWORD, makeAccount, sharedServer } from "./helpers.mjs";

let server;
let account;

before(async () => {
  server = await sharedServer("rate-limited"); // a tiny login rate limit: 2 per 3 seconds
  account = await makeAccount(server);
});

after(async () => {
  await server?.stop();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A real fetch that records each request's status and Idempotency-Key. */
function recordingFetch(log) {
  return async (url, init) => {
    try {
      const response = await fetch(url, init);
      log.push({ url: String(url), status: response.status, key: init.headers["Idempotency-Key"] });
      return response;
    } catch (error) {
      log.push({ url: String(url), status: "error", key: init.headers["Idempotency-Key"] });
      throw error;
    }
  };
}

test("a 429 with Retry-After is waited out and retried", async () => {
  await sleep(3100); // a fresh login window
  const strict = new CodexOS({ baseUrl: server.baseUrl, apiKey: null, maxRetries: 0 });
  await strict.auth.login({ email: account.email, password: PASSWORD });
  await strict.auth.login({ email: account.email, password: PASSWORD });
  const error = await strict.auth.login({ email: account.email, password: PASSWORD }).catch((e) => e);
  assert.ok(error instanceof RateLimitError, String(error));
  assert.equal(error.status, 429);
  assert.equal(error.code, "RATE_LIMIT_EXCEEDED");
  assert.ok(error.retryAfter > 0 && error.retryAfter <= 3, `retryAfter=${error.retryAfter}`);
  assert.match(error.requestId, /^req_/);

  const log = [];
  const patient = new CodexOS({ baseUrl: server.baseUrl, apiKey: null, maxRetries: 3, fetch: recordingFetch(log) });
  const started = Date.now();
  const pair = await patient.auth.login({ email: account.email, password: PASSWORD });
  assert.ok(pair.accessToken);
  assert.deepEqual(log.map((l) => l.status), [429, 200]);
  assert.ok(Date.now() - started >= (error.retryAfter - 1) * 1000, "waited for Retry-After");
});

/** A TCP proxy to the server that swallows the response of the first `/execute` POST. */
async function droppingProxy(target) {
  const { hostname, port } = new URL(target);
  let dropped = 0;
  const sockets = new Set();
  const proxy = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let dropNext = false;
    client.on("data", (chunk) => {
      if (dropped === 0 && /^POST \/api\/v1\/agents\/[^ ]+\/execute /.test(chunk.toString("latin1"))) {
        dropped += 1;
        dropNext = true;
      }
      upstream.write(chunk);
    });
    upstream.on("data", (chunk) => {
      if (dropNext) {
        // the server has done the work; the client never hears about it
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.end());
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${proxy.address().port}`,
    dropped: () => dropped,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => proxy.close(r));
    },
  };
}

test("an execute POST whose response is dropped is retried with the same key and runs once", async () => {
  const agent = await account.client.agents.create({ name: "Once" });
  const proxy = await droppingProxy(server.baseUrl);
  try {
    const log = [];
    const viaProxy = new CodexOS({ baseUrl: proxy.url, apiKey: account.key.key, fetch: recordingFetch(log) });
    const run = await viaProxy.agents.execute(agent.id, { inputData: "only once" });
    assert.equal(proxy.dropped(), 1);
    assert.equal(run.status, "succeeded");
    assert.deepEqual(log.map((l) => l.status), ["error", 200]);
    assert.ok(log[0].key && log[0].key === log[1].key, "the same Idempotency-Key on the retry");
    const runs = await account.client.agents.runs(agent.id).toArray();
    assert.deepEqual(runs.map((r) => r.id), [run.id], "the agent ran exactly once");
  } finally {
    await proxy.close();
  }
});

test("without retries a dropped response is an APIConnectionError", async () => {
  const agent = await account.client.agents.create({ name: "Dropped" });
  const proxy = await droppingProxy(server.baseUrl);
  try {
    const viaProxy = new CodexOS({ baseUrl: proxy.url, apiKey: account.key.key, maxRetries: 0 });
    await assert.rejects(viaProxy.agents.execute(agent.id, { inputData: "x" }), APIConnectionError);
  } finally {
    await proxy.close();
  }
});

test("errors map to their classes with code, message, status and requestId", async () => {
  const client = new CodexOS({ baseUrl: server.baseUrl, apiKey: account.key.key, maxRetries: 0 });
  const cases = [
    [() => client.agents.retrieve("no-such-agent"), NotFoundError, 404, "RESOURCE_NOT_FOUND"],
    [() => client.agents.create({ name: "" }), ValidationError, 422, "VALIDATION_ERROR"],
    [
      () => new CodexOS({ baseUrl: server.baseUrl, apiKey: "cxo_wrong", maxRetries: 0 }).users.me(),
      AuthenticationError,
      401,
      "AUTHENTICATION_FAILED",
    ],
    [
      async () => {
        const key = await client.apiKeys.create({ name: "read-only", scopes: ["agents:read"] });
        return new CodexOS({ baseUrl: server.baseUrl, apiKey: key.key }).agents.create({ name: "nope" });
      },
      AuthorizationError,
      403,
      "AUTHORIZATION_FAILED",
    ],
    [
      () => client.billing.checkout({ credits: 5, successUrl: "https://e.com/a", cancelUrl: "https://e.com/b" }),
      InternalServerError,
      null,
      null,
    ],
  ];
  for (const [call, cls, status, code] of cases) {
    const error = await call().catch((e) => e);
    assert.ok(error instanceof cls, `${cls.name}: got ${error}`);
    if (status) assert.equal(error.status, status);
    if (code) assert.equal(error.code, code);
    assert.ok(error.message.length > 0);
    assert.match(error.requestId, /^req_/);
  }
  const validation = await client.agents.create({ name: "" }).catch((e) => e);
  assert.ok(Array.isArray(validation.details) && validation.details[0].field.includes("name"));
});

test("connection refused and timeouts", async () => {
  const closed = createServer();
  await new Promise((r) => closed.listen(0, "127.0.0.1", r));
  const port = closed.address().port;
  await new Promise((r) => closed.close(r));
  const refused = new CodexOS({ baseUrl: `http://127.0.0.1:${port}`, apiKey: "x", maxRetries: 1 });
  await assert.rejects(refused.users.me(), (e) => e instanceof APIConnectionError && !(e instanceof APITimeoutError));

  const silent = createServer(() => {}); // accepts, never answers
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  try {
    const slow = new CodexOS({ baseUrl: `http://127.0.0.1:${silent.address().port}`, apiKey: "x", timeout: 200, maxRetries: 0 });
    await assert.rejects(slow.users.me(), APITimeoutError);
  } finally {
    silent.close();
    silent.unref();
  }
});
