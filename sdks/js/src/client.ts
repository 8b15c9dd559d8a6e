/** `new CodexOS({ apiKey, baseUrl })`: the resource tree over one HTTP core. */

import { Core } from "./core.js";
import { Realtime, type WebSocketConstructor } from "./realtime.js";
import { Agents, Conversations, Runs } from "./resources/agents.js";
import { Billing, Marketplace } from "./resources/commerce.js";
import { ApiKeys, Auth, Users, Workspaces } from "./resources/identity.js";
import { KnowledgeBases } from "./resources/knowledge.js";
import { Models, Providers, Tools } from "./resources/models.js";
import { Jobs, Monitoring, OAuthApps } from "./resources/platform.js";
import { Workflows } from "./resources/workflows.js";

export interface ClientOptions {
  /** An API key (`cxo_…`) or an access token; default `CODEXOS_API_KEY`. Omit to use `auth.login`. */
  apiKey?: string | null;
  /** `https://host` or `https://host/api/v1`; default `CODEXOS_BASE_URL`, else `http://localhost:8001`. */
  baseUrl?: string;
  /** Milliseconds per attempt; default 60 000. */
  timeout?: number;
  /** Retries on connection errors, 429 and 5xx; default 2. */
  maxRetries?: number;
  /** Sent as `X-Workspace-ID`; default the credential's own workspace. */
  workspaceId?: string | null;
  /** A `fetch` implementation; default the global one. */
  fetch?: typeof fetch;
  /** A WebSocket constructor for `realtime` (Node 18–21: `import WebSocket from "ws"`). */
  WebSocket?: WebSocketConstructor;
  defaultHeaders?: Record<string, string>;
}

function env(name: string): string | undefined {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env?.[name] || undefined;
}

export class CodexOS {
  readonly auth: Auth;
  readonly users: Users;
  readonly apiKeys: ApiKeys;
  readonly workspaces: Workspaces;
  readonly agents: Agents;
  readonly runs: Runs;
  readonly conversations: Conversations;
  readonly workflows: Workflows;
  readonly knowledgeBases: KnowledgeBases;
  readonly marketplace: Marketplace;
  readonly billing: Billing;
  readonly monitoring: Monitoring;
  readonly jobs: Jobs;
  readonly oauthApps: OAuthApps;
  readonly models: Models;
  readonly providers: Providers;
  readonly tools: Tools;
  readonly realtime: Realtime;
  /** @internal */
  readonly core: Core;

  constructor(options: ClientOptions = {}) {
    const fetchImpl = options.fetch ?? (globalThis.fetch as typeof fetch | undefined);
    if (!fetchImpl) throw new Error("No global fetch: pass `fetch` to new CodexOS() (Node 18+ has one)");
    this.core = new Core({
      apiKey: options.apiKey ?? env("CODEXOS_API_KEY") ?? null,
      baseUrl: options.baseUrl ?? env("CODEXOS_BASE_URL") ?? "http://localhost:8001",
      timeout: options.timeout ?? 60_000,
      maxRetries: options.maxRetries ?? 2,
      workspaceId: options.workspaceId ?? null,
      fetch: fetchImpl.bind(globalThis),
      defaultHeaders: options.defaultHeaders ?? {},
    });
    this.auth = new Auth(this.core);
    this.users = new Users(this.core);
    this.apiKeys = new ApiKeys(this.core);
    this.workspaces = new Workspaces(this.core);
    this.agents = new Agents(this.core);
    this.runs = new Runs(this.core);
    this.conversations = new Conversations(this.core);
    this.workflows = new Workflows(this.core);
    this.knowledgeBases = new KnowledgeBases(this.core);
    this.marketplace = new Marketplace(this.core);
    this.billing = new Billing(this.core);
    this.monitoring = new Monitoring(this.core);
    this.jobs = new Jobs(this.core);
    this.oauthApps = new OAuthApps(this.core);
    this.models = new Models(this.core);
    this.providers = new Providers(this.core);
    this.tools = new Tools(this.core);
    this.realtime = new Realtime(this.core, options.WebSocket);
  }

  /** The normalized API root, e.g. `http://localhost:8001/api/v1`. */
  get baseUrl(): string {
    return this.core.baseUrl;
  }

  /** `GET /health` (no credentials needed). */
  health(): Promise<Record<string, unknown>> {
    return this.core.request("GET", "/health", { anonymous: true });
  }
}
