// examples/javascript_sdk.mjs (the seed's example) runs against a live server and prints its run.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { REPO_DIR, SDK_DIR, makeAccount, sharedServer } from "./helpers.mjs";

let server;
let account;
let dir;

before(async () => {
  server = await sharedServer();
  account = await makeAccount(server);
  // A project that has installed @codexos/sdk (this package, linked) holding the example.
  dir = mkdtempSync(join(tmpdir(), "codexos-example-"));
  mkdirSync(join(dir, "node_modules", "@codexos"), { recursive: true });
  symlinkSync(SDK_DIR, join(dir, "node_modules", "@codexos", "sdk"), "dir");
  copyFileSync(join(REPO_DIR, "examples", "javascript_sdk.mjs"), join(dir, "javascript_sdk.mjs"));
});

after(async () => {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("examples/javascript_sdk.mjs runs as written", async () => {
  const ran = spawnSync(process.execPath, ["javascript_sdk.mjs"], {
    cwd: dir,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, CODEXOS_API_KEY: account.key.key, CODEXOS_BASE_URL: server.baseUrl },
  });
  assert.equal(ran.status, 0, ran.stderr);
  const printed = JSON.parse(ran.stdout.trim());
  assert.equal(printed.status, "succeeded");
  assert.equal(printed.output, "echo: Generate API docs");
  const agent = await account.client.agents.retrieve(printed.agent);
  assert.equal(agent.name, "Documentation Bot");
  assert.equal(agent.description, "Automated documentation generator");
  const runs = await account.client.agents.runs(agent.id).toArray();
  assert.deepEqual(runs.map((r) => r.input), ["Generate API docs"]);
});

test("the CommonJS build works with require()", () => {
  const ran = spawnSync(
    process.execPath,
    ["-e", "const { CodexOS, NotFoundError } = require('@codexos/sdk'); console.log(new CodexOS({ baseUrl: 'https://h' }).baseUrl, typeof NotFoundError)"],
    { cwd: dir, encoding: "utf8" },
  );
  assert.equal(ran.status, 0, ran.stderr);
  assert.equal(ran.stdout.trim(), "https://h/api/v1 function");
});
