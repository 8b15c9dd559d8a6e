/** Workflows and their runs, approvals and schedules. */

import type { Paginator } from "../pagination.js";
import { parseSSE, type StreamEvent } from "../streaming.js";
import type { Approval, JSONObject, ListParams, Workflow, WorkflowRun } from "../types.js";
import { Resource, enc } from "./base.js";

export interface ValidateResult {
  valid: boolean;
  problems: JSONObject[];
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

  versions(workflowId: string): Promise<JSONObject[]> {
    return this.get(`/workflows/${enc(workflowId)}/versions`);
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
}
