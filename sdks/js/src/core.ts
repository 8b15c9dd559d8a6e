/** The HTTP core: URLs, auth headers, JSON mapping, timeouts, retries and idempotency keys. */

import { camelKeys, snakeKeys, toSnake } from "./casing.js";
import {
  APIConnectionError,
  APIError,
  APITimeoutError,
  AuthenticationError,
  RateLimitError,
  errorFromResponse,
} from "./errors.js";

export type QueryValue = string | number | boolean | null | undefined;
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  /** Query parameters (camelCase; sent as snake_case). */
  query?: Query;
  /** A JSON body (camelCase keys; sent as snake_case, free-form values untouched). */
  body?: unknown;
  /** A multipart body, sent as is. */
  form?: FormData;
  /** A text body sent exactly as given (set its `Content-Type` in `headers`). */
  content?: string;
  /** Send an `Idempotency-Key` (generated once, reused across retries) unless one is given. */
  idempotent?: boolean;
  idempotencyKey?: string;
  headers?: Record<string, string>;
  /** Per-request overrides of the client settings. */
  timeout?: number;
  maxRetries?: number;
  signal?: AbortSignal;
  /** Return the raw `Response` (for streams); the body is not read. */
  raw?: boolean;
  /** Do not attach credentials (login, register, refresh). */
  anonymous?: boolean;
}

export interface CoreOptions {
  apiKey: string | null;
  baseUrl: string;
  timeout: number;
  maxRetries: number;
  workspaceId: string | null;
  fetch: typeof fetch;
  defaultHeaders: Record<string, string>;
}

/** Access and refresh tokens from `auth.login`; refreshed automatically on a 401. */
export interface TokenState {
  accessToken: string;
  refreshToken: string;
}

const VERSION = "0.1.0";

/** `https://host`, `https://host/` and `https://host/api/v1` all become `https://host/api/v1`. */
export function normalizeBaseUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, "");
  return trimmed.endsWith("/api/v1") ? trimmed : `${trimmed}/api/v1`;
}

export function randomId(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (c?.randomUUID) return c.randomUUID();
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (ch) => {
    const r = (Math.random() * 16) | 0;
    return (ch === "x" ? r : (r & 0x3) | 0x8).toString(16);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff `min(0.5·2ⁿ, 8)` s with jitter, or the server's `Retry-After`. */
export function retryDelay(attempt: number, retryAfter: number | null): number {
  if (retryAfter !== null && retryAfter <= 60) return retryAfter * 1000;
  const base = Math.min(0.5 * 2 ** attempt, 8);
  return base * (1 - 0.25 * Math.random()) * 1000;
}

/**
 * A 429 was not processed: always retried. A lost connection or a 5xx may come after the
 * server applied the request, so those are retried only when repeating it is safe: any
 * method but POST, or a POST carrying an Idempotency-Key (the server replays the first result).
 */
function shouldRetry(error: unknown, safe: boolean): boolean {
  if (error instanceof RateLimitError) return true;
  if (!safe) return false;
  if (error instanceof APIConnectionError) return true;
  return error instanceof APIError && error.status >= 500;
}

export class Core {
  readonly baseUrl: string;
  readonly options: CoreOptions;
  tokens: TokenState | null = null;

  constructor(options: CoreOptions) {
    this.options = options;
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
  }

  url(path: string, query?: Query): string {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined && value !== null) url.searchParams.set(toSnake(key), String(value));
    }
    return url.toString();
  }

  /** The bearer credential: a logged-in session's access token, else the API key. */
  credential(): string | null {
    return this.tokens?.accessToken ?? this.options.apiKey;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, opts);
    if (opts.raw) return response as unknown as T;
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (!text) return undefined as T;
    const type = response.headers.get("content-type") ?? "";
    return (type.includes("json") ? camelKeys<T>(JSON.parse(text)) : text) as T;
  }

  /** Send with retries; returns a successful `Response` or throws a typed error. */
  async send(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const maxRetries = opts.maxRetries ?? this.options.maxRetries;
    const headers: Record<string, string> = {
      Accept: "application/json",
      "User-Agent": `codexos-sdk-js/${VERSION}`,
      ...this.options.defaultHeaders,
    };
    if (this.options.workspaceId) headers["X-Workspace-ID"] = this.options.workspaceId;
    if (opts.idempotent || opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey ?? randomId();
    Object.assign(headers, opts.headers);
    let body: string | FormData | undefined;
    if (opts.form) body = opts.form;
    else if (opts.content !== undefined) body = opts.content;
    else if (opts.body !== undefined) {
      body = JSON.stringify(snakeKeys(opts.body));
      headers["Content-Type"] = "application/json";
    }
    const url = this.url(path, opts.query);
    const safe = method.toUpperCase() !== "POST" || "Idempotency-Key" in headers;
    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      try {
        const credential = opts.anonymous ? null : this.credential();
        const attemptHeaders = credential ? { ...headers, Authorization: `Bearer ${credential}` } : headers;
        return await this.fetchOnce(method, url, attemptHeaders, body, opts);
      } catch (error) {
        if (error instanceof AuthenticationError && !refreshed && !opts.anonymous && this.tokens) {
          refreshed = true;
          await this.refresh();
          attempt--;
          continue;
        }
        if (attempt >= maxRetries || !shouldRetry(error, safe) || opts.signal?.aborted) throw error;
        await sleep(retryDelay(attempt, error instanceof RateLimitError ? error.retryAfter : null));
      }
    }
  }

  /** Exchange the refresh token for a new pair (called automatically on a 401). */
  async refresh(): Promise<TokenState> {
    if (!this.tokens) throw new AuthenticationError(401, "AUTHENTICATION_FAILED", "Not logged in");
    const pair = await this.request<{ accessToken: string; refreshToken: string }>("POST", "/auth/refresh", {
      body: { refreshToken: this.tokens.refreshToken },
      anonymous: true,
    });
    this.tokens = { accessToken: pair.accessToken, refreshToken: pair.refreshToken };
    return this.tokens;
  }

  private async fetchOnce(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | FormData | undefined,
    opts: RequestOptions,
  ): Promise<Response> {
    const controller = new AbortController();
    const timeout = opts.timeout ?? this.options.timeout;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeout);
    const onAbort = (): void => controller.abort();
    opts.signal?.addEventListener("abort", onAbort);
    let response: Response;
    try {
      response = await this.options.fetch(url, { method, headers, body, signal: controller.signal });
    } catch (error) {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (timedOut) throw new APITimeoutError(`Request timed out after ${timeout} ms`, error);
      if (opts.signal?.aborted) throw error;
      throw new APIConnectionError(`Connection error: ${String(error)}`, error);
    }
    if (opts.raw && response.ok) {
      // A stream lives longer than the timeout: only the response headers are timed.
      clearTimeout(timer);
      return response;
    }
    try {
      if (response.ok) {
        const buffered = await response.arrayBuffer();
        return new Response(response.status === 204 ? null : buffered, {
          status: response.status,
          headers: response.headers,
        });
      }
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      throw errorFromResponse(response.status, parsed, response.headers);
    } catch (error) {
      if (error instanceof APIError) throw error;
      if (timedOut) throw new APITimeoutError(`Request timed out after ${timeout} ms`, error);
      throw new APIConnectionError(`Connection error while reading the response: ${String(error)}`, error);
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }
}
