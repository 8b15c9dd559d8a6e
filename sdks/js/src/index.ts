export { CodexOS, type ClientOptions } from "./client.js";
export * from "./errors.js";
export * from "./types.js";
export { Paginator, type Page } from "./pagination.js";
export type { StreamEvent } from "./streaming.js";
export { RealtimeConnection, type ChatFrame, type WebSocketConstructor, type WebSocketLike } from "./realtime.js";
export { OPAQUE_KEYS } from "./casing.js";
export { normalizeBaseUrl, type RequestOptions } from "./core.js";
export type { DocumentUpload, KnowledgeBaseCreate } from "./resources/knowledge.js";
export type { ListingCreate, ListingVersion } from "./resources/commerce.js";
export type {
  CustomTool,
  CustomToolCreate,
  ModelInfo,
  Provider,
  ProviderCreate,
  ProviderUpdate,
  ToolInfo,
} from "./resources/models.js";
export type {
  ValidateResult,
  Webhook,
  WebhookDelivery,
  WebhookEvent,
  WorkflowHook,
  WorkflowVersion,
} from "./resources/workflows.js";
