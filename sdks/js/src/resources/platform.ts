/** Monitoring, background jobs and OAuth apps. */

import type { Paginator } from "../pagination.js";
import type { JSONObject, Job, ListParams, OAuthApp } from "../types.js";
import { Resource, enc } from "./base.js";

export class Monitoring extends Resource {
  /** Run counts, latency, tokens and cost over a window such as `24h`. */
  metrics(params: { window?: string } = {}): Promise<JSONObject> {
    return this.get("/monitoring/metrics", params);
  }

  agentStats(agentId: string, params: { window?: string } = {}): Promise<JSONObject> {
    return this.get(`/monitoring/agents/${enc(agentId)}/stats`, params);
  }

  usage(params: { window?: string } = {}): Promise<JSONObject> {
    return this.get("/monitoring/usage", params);
  }

  /** Admin: queue depth, workers, process stats. */
  system(): Promise<JSONObject> {
    return this.get("/monitoring/system");
  }

  budgets(): Promise<JSONObject[]> {
    return this.get("/monitoring/budgets");
  }

  createBudget(params: { scope?: string; scopeId?: string | null; metric: string; limit: number }): Promise<JSONObject> {
    return this.post("/monitoring/budgets", params);
  }

  updateBudget(budgetId: string, params: { limit: number }): Promise<JSONObject> {
    return this.patch(`/monitoring/budgets/${enc(budgetId)}`, params);
  }

  deleteBudget(budgetId: string): Promise<void> {
    return this.del(`/monitoring/budgets/${enc(budgetId)}`);
  }
}

export class Jobs extends Resource {
  list(params: ListParams & { status?: string; kind?: string } = {}): Paginator<Job> {
    return this.paginate("/jobs", params);
  }

  retrieve(jobId: string): Promise<Job> {
    return this.get(`/jobs/${enc(jobId)}`);
  }

  cancel(jobId: string): Promise<Job> {
    return this.post(`/jobs/${enc(jobId)}/cancel`);
  }
}

export class OAuthApps extends Resource {
  /** The returned `clientSecret` is shown once. */
  create(params: { name: string; redirectUris: string[]; clientType?: "confidential" | "public"; scopes: string[] }): Promise<OAuthApp> {
    return this.post("/oauth/apps", params);
  }

  list(): Promise<OAuthApp[]> {
    return this.get("/oauth/apps");
  }

  retrieve(appId: string): Promise<OAuthApp> {
    return this.get(`/oauth/apps/${enc(appId)}`);
  }

  update(appId: string, params: { name?: string; redirectUris?: string[]; scopes?: string[] }): Promise<OAuthApp> {
    return this.patch(`/oauth/apps/${enc(appId)}`, params);
  }

  delete(appId: string): Promise<void> {
    return this.del(`/oauth/apps/${enc(appId)}`);
  }

  rotateSecret(appId: string): Promise<OAuthApp> {
    return this.post(`/oauth/apps/${enc(appId)}/rotate-secret`);
  }

  /** Apps you have authorized. */
  authorizations(): Promise<JSONObject[]> {
    return this.get("/oauth/authorizations");
  }

  revokeAuthorization(authorizationId: string): Promise<void> {
    return this.del(`/oauth/authorizations/${enc(authorizationId)}`);
  }
}
