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

/** The parts of a server handle a test needs: its URL, env and a `codexos` CLI on its data dir. */
function serverHandle(baseUrl, env, dataDir, rootAdmin = null) {
  return {
    baseUrl,
    env,
    dataDir,
    /** `{ email, password }` of an admin made at start-up (see startServer's `rootAdmin`), or null. */
    rootAdmin,
    /** Run the `codexos` CLI against this server's data dir. */
    cli(...args) {
      const r = spawnSync(CODEXOS, args, { env, encoding: "utf8", timeout: 120_000 });
      if (r.status !== 0) throw new Error(`codexos ${args.join(" ")}: ${r.stdout}${r.stderr}`);
      return r.stdout;
    },
  };
}

/** Where scripts/run-tests.mjs publishes the servers it shares with the test files. */
export const SHARED_SERVERS_VAR = "SDK_JS_TEST_SERVERS";

/**
 * The servers the test files share, by name: `[extraEnv, options]` for startServer.
 * "default" is for every file; "rate-limited" (a tiny login rate limit) is for the retry tests.
 */
export const SHARED_SERVERS = {
  default: [{ CODEXOS_LOGIN_LIMIT_PER_IP: "10000 per 15 minutes" }, { rootAdmin: true }],
  "rate-limited": [{ CODEXOS_LOGIN_LIMIT_PER_IP: "2 per 3 seconds" }, {}],
};

/** What a test process needs to use a running server (see sharedServer). */
export function describeServer(server) {
  const codexosEnv = Object.fromEntries(Object.entries(server.env).filter(([k]) => k.startsWith("CODEXOS_")));
  return { baseUrl: server.baseUrl, codexosEnv, dataDir: server.dataDir, rootAdmin: server.rootAdmin };
}

/**
 * A server shared by the test files: the one `npm test` (scripts/run-tests.mjs) started under
 * this name, or, when a file is run on its own (`node --test test/x.test.mjs`), a fresh one.
 * Each file makes its own accounts (and so its own workspaces), so sharing a server does not
 * couple the files. `stop()` only stops a server this call started.
 */
export async function sharedServer(name = "default") {
  const shared = process.env[SHARED_SERVERS_VAR] ? JSON.parse(process.env[SHARED_SERVERS_VAR])[name] : null;
  if (!shared) return startServer(...SHARED_SERVERS[name]);
  const { baseUrl, codexosEnv, dataDir, rootAdmin } = shared;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("CODEXOS_")));
  Object.assign(env, codexosEnv);
  return { ...serverHandle(baseUrl, env, dataDir, rootAdmin), async stop() {} };
}

/** `codexos …` without blocking the event loop (so it can overlap the server's start-up). */
function cliAsync(env, args) {
  return new Promise((ok, fail) => {
    const proc = spawn(CODEXOS, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    proc.stdout.on("data", (d) => (out += d));
    proc.stderr.on("data", (d) => (out += d));
    proc.once("error", fail);
    proc.once("exit", (code) => (code === 0 ? ok(out) : fail(new Error(`codexos ${args.join(" ")}: ${out}`))));
  });
}

/**
 * Start a server; `extraEnv` overrides settings (e.g. a tiny login rate limit). With
 * `rootAdmin`, an admin user is made by the CLI while the server starts, so that
 * `makeAccount(server, { admin: true })` can promote users over HTTP instead of paying for a CLI
 * run (seconds of Python start-up) each time.
 */
export async function startServer(extraEnv = {}, { rootAdmin = false } = {}) {
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
  const root = rootAdmin ? { email: `root-admin-${process.pid}@example.com`, password: PASSWORD } : null;
  const madeRoot = root
    ? cliAsync(env, ["admin", "create-user", "--email", root.email, "--password", root.password, "--role", "admin"])
    : null;
  madeRoot?.catch(() => {}); // awaited below; do not let an early failure go unhandled
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
  if (madeRoot) {
    try {
      await madeRoot;
    } catch (error) {
      proc.kill("SIGKILL");
      throw error;
    }
  }
  const server = {
    ...serverHandle(baseUrl, env, dataDir, root),
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
  const session = new CodexOS({ baseUrl: server.baseUrl, apiKey: null });
  if (admin && !server.rootAdmin) {
    server.cli("admin", "create-user", "--email", email, "--password", PASSWORD, "--role", "admin");
  } else {
    const user = await session.auth.register({ email, password: PASSWORD, name: "SDK Tester" });
    if (admin) {
      const root = new CodexOS({ baseUrl: server.baseUrl, apiKey: null });
      await root.auth.login(server.rootAdmin);
      await root.users.update(user.id, { role: "admin" });
    }
  }
  await session.auth.login({ email, password: PASSWORD });
  const scopes = (await session.auth.scopes()).map((s) => s.name).filter((s) => admin || s !== "admin");
  const key = await session.apiKeys.create({ name: "sdk-js", scopes });
  const client = new CodexOS({ baseUrl: server.baseUrl, apiKey: key.key });
  const me = await client.users.me();
  return { email, session, client, key, me };
}
