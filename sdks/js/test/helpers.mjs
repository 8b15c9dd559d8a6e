// A real CodexOS server for the tests: `codexos migrate`, then `codexos serve` on a free port,
// SQLite in a temp dir and the scripted chat model. The venv is `../../.venv` or $CODEXOS_VENV.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { CodexOS } from "../dist/esm/index.js";

export const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO_DIR = resolve(SDK_DIR, "../..");
const VENV = process.env.CODEXOS_VENV ?? join(REPO_DIR, ".venv");
const CODEXOS = join(VENV, "bin", "codexos");
export const PASSWORD = "Correct-Horse-Battery-9";

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start a server; `extraEnv` overrides settings (e.g. a tiny login rate limit). */
export async function startServer(extraEnv = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "codexos-sdk-js-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CODEXOS_")));
  Object.assign(env, {
    CODEXOS_DATA_DIR: dataDir,
    CODEXOS_LLM_PROVIDER: "scripted",
    CODEXOS_ENVIRONMENT: "test",
    CODEXOS_LOG_FORMAT: "json",
    CODEXOS_PASSWORD_HASH_TIME_COST: "1",
    CODEXOS_PASSWORD_HASH_MEMORY_KIB: "1024",
    CODEXOS_RATE_LIMIT_FREE: "1000000",
    CODEXOS_RATE_LIMIT_ANONYMOUS: "1000000",
    ...extraEnv,
  });
  const migrated = spawnSync(CODEXOS, ["migrate"], { env, encoding: "utf8", timeout: 120_000 });
  if (migrated.status !== 0) throw new Error(`codexos migrate failed: ${migrated.stdout}${migrated.stderr}`);
  const port = await freePort();
  const logPath = join(dataDir, "server.log");
  const log = openSync(logPath, "w");
  const proc = spawn(CODEXOS, ["serve", "--host", "127.0.0.1", "--port", String(port)], {
    env,
    stdio: ["ignore", log, log],
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`server exited: ${readFileSync(logPath, "utf8")}`);
    try {
      const r = await fetch(`${baseUrl}/api/v1/health`);
      if (r.status === 200) break;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  const server = {
    baseUrl,
    env,
    dataDir,
    /** Run the `codexos` CLI against this server's data dir. */
    cli(...args) {
      const r = spawnSync(CODEXOS, args, { env, encoding: "utf8", timeout: 120_000 });
      if (r.status !== 0) throw new Error(`codexos ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    },
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([new Promise((r) => proc.once("exit", r)), sleep(15_000)]);
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

let counter = 0;

/** Register a user, log in with the SDK, and make an API key with every non-admin scope. */
export async function makeAccount(server, { admin = false } = {}) {
  const email = `sdk-js-${process.pid}-${++counter}@example.com`;
  if (admin) server.cli("admin", "create-user", "--email", email, "--password", PASSWORD, "--role", "admin");
  const session = new CodexOS({ baseUrl: server.baseUrl, apiKey: null });
  if (!admin) await session.auth.register({ email, password: PASSWORD, name: "SDK Tester" });
  await session.auth.login({ email, password: PASSWORD });
  const scopes = (await session.auth.scopes()).map((s) => s.name).filter((s) => admin || s !== "admin");
  const key = await session.apiKeys.create({ name: "sdk-js", scopes });
  const client = new CodexOS({ baseUrl: server.baseUrl, apiKey: key.key });
  const me = await client.users.me();
  return { email, session, client, key, me };
}
