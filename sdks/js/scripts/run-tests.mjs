// `npm test`: start the live CodexOS servers once, run every test file against them, stop them.
// Starting a server (migrate + serve) used to be most of each file's cost; now the files share
// one ("default"), and the retry tests, which need a tiny login rate limit, share a second
// ("rate-limited"), both started in parallel here. Test files find them through
// $SDK_JS_TEST_SERVERS (see sharedServer() in test/helpers.mjs); a file run on its own with
// `node --test test/x.test.mjs` starts its own. The files run in parallel
// ($SDK_JS_TEST_CONCURRENCY, default 4): each works in its own accounts and workspaces.
// Extra arguments go to `node --test` (e.g. `npm test -- test/agents.test.mjs`).
import { spawn } from "node:child_process";
import { join } from "node:path";

import { SDK_DIR, SHARED_SERVERS, SHARED_SERVERS_VAR, describeServer, startServer } from "../test/helpers.mjs";

const args = process.argv.slice(2);
const concurrency = process.env.SDK_JS_TEST_CONCURRENCY ?? "4";

const names = Object.keys(SHARED_SERVERS);
const started = await Promise.allSettled(names.map((name) => startServer(...SHARED_SERVERS[name])));
const servers = started.filter((r) => r.status === "fulfilled").map((r) => r.value);
let code = 1;
try {
  const failed = started.find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
  const described = Object.fromEntries(names.map((name, i) => [name, describeServer(started[i].value)]));
  const child = spawn(
    process.execPath,
    ["--test", `--test-concurrency=${concurrency}`, ...(args.length ? args : [join("test", "")])],
    { cwd: SDK_DIR, stdio: "inherit", env: { ...process.env, [SHARED_SERVERS_VAR]: JSON.stringify(described) } },
  );
  const forward = (signal) => child.kill(signal);
  process.on("SIGINT", forward).on("SIGTERM", forward);
  code = await new Promise((resolve) => child.once("exit", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
} catch (error) {
  console.error(error);
} finally {
  await Promise.all(servers.map((s) => s.stop()));
}
process.exit(code);
