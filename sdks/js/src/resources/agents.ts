/** Agents, their runs and conversations. */

import type { Paginator } from "../pagination.js";
import { parseSSE, type StreamEvent } from "../streaming.js";
import type {
  Agent,
  AgentCreate,
  AgentUpdate,
  AgentVersion,
  Conversation,
  ExecuteParams,
  JSONObject,
  ListParams,
  Message,
  Run,
} from "../types.js";
import { Resource, enc } from "./base.js";

export class Agents extends Resource {
  create(params: AgentCreate): Promise<Agent> {
    return this.post("/agents", params);
  }

  list(params: ListParams & { type?: string; search?: string } = {}): Paginator<Agent> {
    return this.paginate("/agents", params);
  }

  retrieve(agentId: string): Promise<Agent> {
    return this.get(`/agents/${enc(agentId)}`);
  }

  update(agentId: string, params: AgentUpdate): Promise<Agent> {
    return this.patch(`/agents/${enc(agentId)}`, params);
  }

  delete(agentId: string): Promise<void> {
    return this.del(`/agents/${enc(agentId)}`);
  }

  duplicate(agentId: string): Promise<Agent> {
    return this.post(`/agents/${enc(agentId)}/duplicate`);
  }

  versions(agentId: string): Promise<AgentVersion[]> {
    return this.get(`/agents/${enc(agentId)}/versions`);
  }

  version(agentId: string, version: number): Promise<AgentVersion> {
    return this.get(`/agents/${enc(agentId)}/versions/${version}`);
  }

  /**
   * Run the agent and wait for the finished run (or, with `async: true`, return the queued run).
   * Sends an `Idempotency-Key` (reused across retries) so a retry never runs the agent twice.
   */
  execute(agentId: string, params: ExecuteParams, options: { idempotencyKey?: string } = {}): Promise<Run> {
    return this.core.request<Run>("POST", `/agents/${enc(agentId)}/execute`, {
      body: params,
      idempotent: true,
      idempotencyKey: options.idempotencyKey,
    });
  }

  /** Run the agent and iterate its events (`run.started`, `token`, …, `run.succeeded`). */
  async *stream(
    agentId: string,
    params: Omit<ExecuteParams, "async">,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<StreamEvent> {
    const response = await this.core.send("POST", `/agents/${enc(agentId)}/execute`, {
      body: { ...params, stream: true },
      headers: { Accept: "text/event-stream" },
      idempotent: true,
      idempotencyKey: options.idempotencyKey,
      signal: options.signal,
      raw: true,
    });
    yield* parseSSE<StreamEvent>(response);
  }

  /** This agent's runs, newest first. */
  runs(agentId: string, params: ListParams & { status?: string } = {}): Paginator<Run> {
    return this.paginate("/runs", { ...params, agentId });
  }
}

export class Runs extends Resource {
  list(params: ListParams & { agentId?: string; status?: string; conversationId?: string } = {}): Paginator<Run> {
    return this.paginate("/runs", params);
  }

  /** A run with its steps. */
  retrieve(runId: string): Promise<Run> {
    return this.get(`/runs/${enc(runId)}`);
  }

  cancel(runId: string): Promise<Run> {
    return this.post(`/runs/${enc(runId)}/cancel`);
  }

  /** Replay then follow the run's events; ends after the run finishes. */
  async *events(runId: string, params: { afterSeq?: number; signal?: AbortSignal } = {}): AsyncGenerator<StreamEvent> {
    const response = await this.core.send("GET", `/runs/${enc(runId)}/events`, {
      query: { afterSeq: params.afterSeq },
      headers: { Accept: "text/event-stream" },
      signal: params.signal,
      raw: true,
    });
    yield* parseSSE<StreamEvent>(response);
  }
}

export class Conversations extends Resource {
  create(agentId: string, params: { title?: string | null } = {}): Promise<Conversation> {
    return this.post(`/agents/${enc(agentId)}/conversations`, params);
  }

  list(agentId: string, params: ListParams = {}): Paginator<Conversation> {
    return this.paginate(`/agents/${enc(agentId)}/conversations`, params);
  }

  retrieve(conversationId: string): Promise<Conversation> {
    return this.get(`/conversations/${enc(conversationId)}`);
  }

  delete(conversationId: string): Promise<void> {
    return this.del(`/conversations/${enc(conversationId)}`);
  }

  messages(conversationId: string, params: ListParams = {}): Paginator<Message> {
    return this.paginate(`/conversations/${enc(conversationId)}/messages`, params);
  }

  /** Send a message and wait for the agent's run. */
  send(conversationId: string, params: { content: string; variables?: Record<string, string> }): Promise<Run> {
    return this.post(`/conversations/${enc(conversationId)}/messages`, params);
  }

  /** Send a message and iterate the run's events. */
  async *stream(
    conversationId: string,
    params: { content: string; variables?: Record<string, string> },
  ): AsyncGenerator<StreamEvent> {
    const response = await this.core.send("POST", `/conversations/${enc(conversationId)}/messages`, {
      body: { ...params, stream: true },
      headers: { Accept: "text/event-stream" },
      raw: true,
    });
    yield* parseSSE<StreamEvent>(response);
  }
}

export type { JSONObject };
