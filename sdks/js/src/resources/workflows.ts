/** Workflows and their runs, approvals and schedules. */

import type { Paginator } from "../pagination.js";
import { parseSSE, type StreamEvent } from "../streaming.js";
import type { Approval, JSONObject, ListParams, Workflow, WorkflowRun } from "../types.js";
import { Resource, enc } from "./base.js";

export interface ValidateResult {
  valid: boolean;
  problems: JSONObject[];
}

export interface WorkflowVersion {
  version: number;
  name: string;
  spec: JSONObject;
  createdAt: string;
}

export interface WorkflowHook {
  id: string;
  workflowId: string;
  enabled: boolean;
  /** Shown once, at creation: POST signed JSON here to start a run. */
  url: string | null;
  /** Shown once, at creation: sign requests with it. */
  secret: string | null;
  createdAt: string;
}

export type WebhookEvent = "run.succeeded" | "run.failed" | "run.cancelled";

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  createdAt: string | null;
  /** Shown once, at creation: verify deliveries' `X-CodexOS-Signature` with it. */
  secret?: string;
}

export interface WebhookDelivery {
  id: string;
  runId: string;
  url: string;
  event: string;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number | null;
  delivered: boolean;
  createdAt: string;
}

export class Workflows extends Resource {
  /** `spec` is sent exactly as given (its keys are not re-cased). */
  create(params: { name: string; description?: string | null; spec: JSONObject }): Promise<Workflow> {
    return this.post("/workflows", params);
  }

  list(params: ListParams = {}): Paginator<Workflow> {
    return this.paginate("/workflows", params);
  }

  retrieve(workflowId: string): Promise<Workflow> {
    return this.get(`/workflows/${enc(workflowId)}`);
  }

  update(workflowId: string, params: { name?: string; description?: string | null; spec?: JSONObject }): Promise<Workflow> {
    return this.patch(`/workflows/${enc(workflowId)}`, params);
  }

  delete(workflowId: string): Promise<void> {
    return this.del(`/workflows/${enc(workflowId)}`);
  }

  /** Check a spec without saving it. */
  validate(params: { spec: JSONObject }): Promise<ValidateResult> {
    return this.post("/workflows/validate", params);
  }

  /** A workflow's versions, newest first. */
  versions(workflowId: string): Promise<WorkflowVersion[]> {
    return this.get(`/workflows/${enc(workflowId)}/versions`);
  }

  /** The workflow's export as text (JSON by default, or YAML), exactly as the server wrote it. */
  async export(workflowId: string, params: { format?: "json" | "yaml" } = {}): Promise<string> {
    const response = await this.core.send("GET", `/workflows/${enc(workflowId)}/export`, {
      query: { format: params.format },
      headers: { Accept: params.format === "yaml" ? "application/yaml" : "application/json" },
      raw: true,
    });
    return response.text();
  }

  /**
   * Create a workflow from an export: the text `export()` returned (JSON or YAML), or a parsed
   * JSON export (sent as written, its keys not re-cased).
   */
  import(data: string | JSONObject, params: { format?: "json" | "yaml" } = {}): Promise<Workflow> {
    const content = typeof data === "string" ? data : JSON.stringify(data);
    const yaml = params.format ? params.format === "yaml" : typeof data === "string" && !/^\s*[{[]/.test(data);
    return this.core.request<Workflow>("POST", "/workflows/import", {
      content,
      headers: { "Content-Type": yaml ? "application/yaml" : "application/json" },
    });
  }

  /** Start a run; sends an `Idempotency-Key` so a retry never starts two runs. */
  run(workflowId: string, params: { inputs?: JSONObject } = {}, options: { idempotencyKey?: string } = {}): Promise<WorkflowRun> {
    return this.core.request<WorkflowRun>("POST", `/workflows/${enc(workflowId)}/runs`, {
      body: { inputs: params.inputs ?? {} },
      idempotent: true,
      idempotencyKey: options.idempotencyKey,
    });
  }

  /** Runs of one workflow, or of all workflows when `workflowId` is omitted. */
  runs(workflowId?: string, params: ListParams & { status?: string } = {}): Paginator<WorkflowRun> {
    return workflowId
      ? this.paginate(`/workflows/${enc(workflowId)}/runs`, params)
      : this.paginate("/workflow-runs", params);
  }

  /** A run with its nodes and approvals. */
  retrieveRun(runId: string): Promise<WorkflowRun> {
    return this.get(`/workflow-runs/${enc(runId)}`);
  }

  cancel(runId: string): Promise<WorkflowRun> {
    return this.post(`/workflow-runs/${enc(runId)}/cancel`);
  }

  resume(runId: string): Promise<WorkflowRun> {
    return this.post(`/workflow-runs/${enc(runId)}/resume`);
  }

  rerun(runId: string): Promise<WorkflowRun> {
    return this.post(`/workflow-runs/${enc(runId)}/rerun`);
  }

  /** Pending approvals in the workspace. */
  approvals(params: ListParams = {}): Paginator<Approval> {
    return this.paginate("/workflow-approvals", params);
  }

  approve(runId: string, nodeId: string, params: { comment?: string | null } = {}): Promise<Approval> {
    return this.post(`/workflow-runs/${enc(runId)}/approvals/${enc(nodeId)}/approve`, params);
  }

  reject(runId: string, nodeId: string, params: { comment?: string | null } = {}): Promise<Approval> {
    return this.post(`/workflow-runs/${enc(runId)}/approvals/${enc(nodeId)}/reject`, params);
  }

  /** Replay then follow a workflow run's events. */
  async *events(runId: string, params: { afterSeq?: number; signal?: AbortSignal } = {}): AsyncGenerator<StreamEvent> {
    const response = await this.core.send("GET", `/workflow-runs/${enc(runId)}/events`, {
      query: { afterSeq: params.afterSeq },
      headers: { Accept: "text/event-stream" },
      signal: params.signal,
      raw: true,
    });
    yield* parseSSE<StreamEvent>(response);
  }

  createSchedule(
    workflowId: string,
    params: { cron: string; timezone?: string; inputs?: JSONObject; enabled?: boolean },
  ): Promise<JSONObject> {
    return this.post(`/workflows/${enc(workflowId)}/schedules`, params);
  }

  schedules(workflowId: string, params: ListParams = {}): Paginator<JSONObject> {
    return this.paginate(`/workflows/${enc(workflowId)}/schedules`, params);
  }

  deleteSchedule(workflowId: string, scheduleId: string): Promise<void> {
    return this.del(`/workflows/${enc(workflowId)}/schedules/${enc(scheduleId)}`);
  }

  /** An inbound webhook that starts a run; the answer's `url` and `secret` are shown only now. */
  createHook(workflowId: string): Promise<WorkflowHook> {
    return this.post(`/workflows/${enc(workflowId)}/hooks`);
  }

  hooks(workflowId: string, params: ListParams = {}): Paginator<WorkflowHook> {
    return this.paginate(`/workflows/${enc(workflowId)}/hooks`, params);
  }

  deleteHook(workflowId: string, hookId: string): Promise<void> {
    return this.del(`/workflows/${enc(workflowId)}/hooks/${enc(hookId)}`);
  }

  /** An outbound webhook: run outcomes are POSTed (signed) to `url`; `secret` is shown only now. */
  createWebhook(workflowId: string, params: { url: string; events?: WebhookEvent[] }): Promise<Webhook> {
    return this.post(`/workflows/${enc(workflowId)}/webhooks`, params);
  }

  webhooks(workflowId: string): Promise<Webhook[]> {
    return this.get(`/workflows/${enc(workflowId)}/webhooks`);
  }

  /** Delivery attempts of the workflow's outbound webhooks, optionally of one run. */
  webhookDeliveries(workflowId: string, params: ListParams & { runId?: string } = {}): Paginator<WebhookDelivery> {
    return this.paginate(`/workflows/${enc(workflowId)}/webhooks/deliveries`, params);
  }

  deleteWebhook(workflowId: string, webhookId: string): Promise<void> {
    return this.del(`/workflows/${enc(workflowId)}/webhooks/${enc(webhookId)}`);
  }
}
