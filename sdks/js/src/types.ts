/** Response and request shapes (camelCase). Free-form JSON fields are `JSONObject`/`unknown`. */

export type JSONObject = Record<string, unknown>;

export interface TokenPair {
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  refreshToken: string;
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  role: string;
  tier: string;
  rateLimitPerHour: number | null;
  isDisabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Scope {
  name: string;
  description: string;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  lastFour: string;
  scopes: string[];
  workspaceId: string;
  userId: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  lastUsedAt: string | null;
}

/** Returned once, at creation: `key` is the secret. */
export interface ApiKeyCreated extends ApiKey {
  key: string;
}

export interface Workspace {
  id: string;
  name: string;
  isPersonal: boolean;
  ownerId: string;
  role: string;
  createdAt: string;
  updatedAt: string;
}

export interface Member {
  userId: string;
  email: string;
  name: string | null;
  role: string;
  joinedAt: string;
}

export interface Invitation {
  id: string;
  workspaceId: string;
  email: string;
  role: string;
  invitedById: string | null;
  expiresAt: string;
  acceptedAt: string | null;
  revokedAt: string | null;
  createdAt: string;
  /** Only on creation. */
  token?: string;
}

export interface ModelSettings {
  provider?: string | null;
  model?: string | null;
  temperature?: number;
  maxTokens?: number;
  /** Provider options, passed through unchanged. */
  options?: JSONObject;
}

export interface AgentCreate {
  name: string;
  description?: string | null;
  type?: string;
  instructions?: string;
  model?: ModelSettings;
  tools?: string[];
  knowledgeBaseIds?: string[];
  memory?: { maxMessages?: number; summarize?: boolean };
  /** Template variables, passed through unchanged (keys are not re-cased). */
  variables?: Record<string, string>;
  maxSteps?: number;
}

export type AgentUpdate = Partial<AgentCreate>;

export interface Agent {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  type: string;
  instructions: string;
  model: ModelSettings;
  tools: string[];
  knowledgeBaseIds: string[];
  memory: { maxMessages: number; summarize: boolean };
  variables: Record<string, string>;
  maxSteps: number;
  version: number;
  sourceListingId: string | null;
  sourceListingVersion: number | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface AgentVersion {
  version: number;
  createdAt: string;
  snapshot: JSONObject;
}

export interface ExecuteParams {
  /** The input: a string or a JSON object (passed through unchanged). */
  inputData: string | JSONObject;
  conversationId?: string | null;
  variables?: Record<string, string>;
  /** Queue the run and return at once (status `queued`, HTTP 202). */
  async?: boolean;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface Run {
  id: string;
  agentId: string;
  agentVersion: number;
  conversationId: string | null;
  status: string;
  mode: string;
  input: unknown;
  output: string | null;
  citations: JSONObject[] | null;
  error: JSONObject | null;
  usage: Usage | null;
  cost: number | null;
  model: string | null;
  jobId: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  steps?: JSONObject[];
}

export interface Conversation {
  id: string;
  agentId: string;
  title: string | null;
  summary: string | null;
  messageCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface Message {
  id: string;
  position: number;
  role: string;
  content: string;
  runId: string | null;
  createdAt: string;
}

export interface Workflow {
  id: string;
  name: string;
  description: string | null;
  /** The workflow graph, passed through unchanged. */
  spec: JSONObject;
  version: number;
  webhooks: JSONObject[];
  sourceListingId: string | null;
  sourceListingVersion: number | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface WorkflowRun {
  id: string;
  workflowId: string;
  workflowVersion: number;
  status: string;
  trigger: string;
  inputs: unknown;
  output: unknown;
  error: JSONObject | null;
  parentRunId: string | null;
  createdAt: string;
  nodes?: JSONObject[];
  approvals?: Approval[];
  [key: string]: unknown;
}

export interface Approval {
  id: string;
  runId: string;
  nodeId: string;
  prompt: string;
  status: string;
  comment: string | null;
  decidedBy: string | null;
  [key: string]: unknown;
}

export interface KnowledgeBase {
  id: string;
  name: string;
  description: string | null;
  embedding: { provider: string; model: string | null };
  embeddingDimensions: number;
  chunking: JSONObject;
  retrieval: JSONObject;
  documentCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface Document {
  id: string;
  knowledgeBaseId: string;
  name: string;
  kind: string;
  source: string;
  status: string;
  chunkCount: number;
  metadata: JSONObject;
  [key: string]: unknown;
}

export interface QueryResult {
  chunkId: string;
  documentId: string;
  documentName: string;
  position: number;
  page: number | null;
  headingPath: string[];
  text: string;
  score: number;
  citation: string;
}

export interface QueryResponse {
  results: QueryResult[];
  mode: string;
}

export interface Job {
  id: string;
  kind: string;
  status: string;
  workspaceId: string | null;
  attempt: number;
  maxAttempts: number;
  payload: JSONObject;
  result: unknown;
  error: JSONObject | null;
  [key: string]: unknown;
}

export interface Listing {
  id: string;
  workspaceId: string;
  resourceType: string;
  title: string;
  summary: string;
  description: string;
  category: string;
  tags: string[];
  pricing: JSONObject;
  status: string;
  [key: string]: unknown;
}

export interface Wallet {
  workspaceId: string;
  balance: number;
  currency?: string;
}

export interface Transaction {
  id: string;
  kind: string;
  amount: number;
  workspaceId: string | null;
  reference: JSONObject;
  createdAt: string;
  entries: JSONObject[];
  [key: string]: unknown;
}

export interface OAuthApp {
  id: string;
  clientId: string;
  name: string;
  clientType: string;
  redirectUris: string[];
  scopes: string[];
  workspaceId: string;
  secretLastFour: string | null;
  createdAt: string;
  updatedAt: string;
  /** Only on creation and rotation. */
  clientSecret?: string | null;
}

/** A list page's shape and list parameters. */
export interface ListParams {
  limit?: number;
  cursor?: string;
}
