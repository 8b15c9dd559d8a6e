/** Models, workspace provider configs, and the tools agents can use (built-in and custom HTTP tools). */

import type { Paginator } from "../pagination.js";
import type { JSONObject, ListParams } from "../types.js";
import { Resource, enc } from "./base.js";

export interface ModelInfo {
  /** `provider/model`, usable as an agent's provider and model. */
  id: string;
  provider: string;
  model: string;
  source: "server" | "workspace";
  available: boolean;
  note: string | null;
}

export interface Provider {
  id: string;
  name: string;
  kind: string;
  baseUrl: string | null;
  hasApiKey: boolean;
  apiKeyLastFour: string | null;
  defaultModel: string | null;
  models: string[];
  timeoutSeconds: number;
  maxRetries: number;
  createdAt: string;
  updatedAt: string;
}

export interface ProviderCreate {
  /** Lowercase, `^[a-z][a-z0-9_-]{1,63}$`, not a built-in provider's name. */
  name: string;
  kind?: "openai";
  /** Default `https://api.openai.com/v1`. */
  baseUrl?: string | null;
  /** Stored encrypted, never returned (only its last four characters). */
  apiKey?: string | null;
  defaultModel?: string | null;
  models?: string[];
  timeoutSeconds?: number;
  maxRetries?: number;
}

export type ProviderUpdate = Partial<Omit<ProviderCreate, "name" | "kind">>;

export class Models extends Resource {
  /** The models agents in this workspace can use (server and workspace providers). */
  list(): Promise<ModelInfo[]> {
    return this.get("/models");
  }
}

/** OpenAI-compatible provider configs for the workspace (creating, updating, deleting: workspace admin). */
export class Providers extends Resource {
  create(params: ProviderCreate): Promise<Provider> {
    return this.post("/providers", params);
  }

  list(params: ListParams = {}): Paginator<Provider> {
    return this.paginate("/providers", params);
  }

  retrieve(providerId: string): Promise<Provider> {
    return this.get(`/providers/${enc(providerId)}`);
  }

  update(providerId: string, params: ProviderUpdate): Promise<Provider> {
    return this.patch(`/providers/${enc(providerId)}`, params);
  }

  delete(providerId: string): Promise<void> {
    return this.del(`/providers/${enc(providerId)}`);
  }
}

export interface ToolInfo {
  name: string;
  description: string;
  /** A JSON Schema, as written. */
  parameters: JSONObject;
  kind: "builtin" | "custom";
}

export interface CustomTool {
  id: string;
  name: string;
  description: string;
  parameters: JSONObject;
  method: string;
  urlTemplate: string;
  /** The names of the stored headers; their values are never returned. */
  headerNames: string[];
  createdAt: string;
  updatedAt: string;
}

export interface CustomToolCreate {
  name: string;
  description?: string;
  /** A JSON Schema for the arguments, an object (sent as written). */
  parameters: JSONObject;
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** e.g. `https://api.example.com/weather?city={city}`. */
  urlTemplate: string;
  /** Stored encrypted, never returned; keys are sent as written. */
  headers?: Record<string, string>;
}

export class Tools extends Resource {
  /** Every tool agents can use: the built-ins (sorted by name), then the workspace's HTTP tools. */
  list(): Promise<ToolInfo[]> {
    return this.get("/tools");
  }

  /** The workspace's HTTP tools. */
  listCustom(): Promise<CustomTool[]> {
    return this.get("/tools/custom");
  }

  /** Define an HTTP tool agents can call. */
  createCustom(params: CustomToolCreate): Promise<CustomTool> {
    return this.post("/tools/custom", params);
  }

  deleteCustom(toolId: string): Promise<void> {
    return this.del(`/tools/custom/${enc(toolId)}`);
  }
}
