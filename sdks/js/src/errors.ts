/** Typed errors, built once from the server's envelope `{"error": {code, message, details, request_id}}`. */

/** Base class of every error this SDK throws. */
export class CodexOSError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An error response from the API. */
export class APIError extends CodexOSError {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  readonly requestId: string | null;
  readonly headers: Headers | undefined;

  constructor(
    status: number,
    code: string,
    message: string,
    details: unknown = null,
    requestId: string | null = null,
    headers?: Headers,
  ) {
    super(`${status} ${code}: ${message}`);
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
    this.headers = headers;
    // Keep the server's message without the status prefix on `.message`.
    this.message = message;
  }
}

export class AuthenticationError extends APIError {}
export class AuthorizationError extends APIError {}
export class ValidationError extends APIError {}
export class NotFoundError extends APIError {}
export class ConflictError extends APIError {}
export class InternalServerError extends APIError {}

/** 429: `retryAfter` is the server's `Retry-After` in seconds, if it sent one. */
export class RateLimitError extends APIError {
  readonly retryAfter: number | null;

  constructor(
    status: number,
    code: string,
    message: string,
    details: unknown,
    requestId: string | null,
    headers: Headers | undefined,
    retryAfter: number | null,
  ) {
    super(status, code, message, details, requestId, headers);
    this.retryAfter = retryAfter;
  }
}

/** The request never got a response (DNS, refused, reset, dropped connection). */
export class APIConnectionError extends CodexOSError {
  override readonly cause: unknown;

  constructor(message: string, cause?: unknown) {
    super(message);
    this.cause = cause;
  }
}

/** The request took longer than the client's `timeout`. */
export class APITimeoutError extends APIConnectionError {}

const BY_CODE: Record<string, typeof APIError> = {
  AUTHENTICATION_FAILED: AuthenticationError,
  AUTHORIZATION_FAILED: AuthorizationError,
  VALIDATION_ERROR: ValidationError,
  RESOURCE_NOT_FOUND: NotFoundError,
  CONFLICT: ConflictError,
  INTERNAL_ERROR: InternalServerError,
};

const BY_STATUS: Record<number, typeof APIError> = {
  401: AuthenticationError,
  403: AuthorizationError,
  404: NotFoundError,
  409: ConflictError,
  422: ValidationError,
};

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date), else null. */
export function parseRetryAfter(value: string | null): number | null {
  if (value === null || value.trim() === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}

/** The one place a response status and body become an error class. */
export function errorFromResponse(status: number, body: unknown, headers: Headers): APIError {
  const envelope =
    typeof body === "object" && body !== null && "error" in body
      ? ((body as { error: unknown }).error as Record<string, unknown> | null)
      : null;
  const code =
    typeof envelope?.code === "string" ? envelope.code : status === 429 ? "RATE_LIMIT_EXCEEDED" : `HTTP_${status}`;
  const message =
    typeof envelope?.message === "string" ? envelope.message : typeof body === "string" && body ? body : `HTTP ${status}`;
  const details = envelope?.details ?? null;
  const requestId =
    typeof envelope?.request_id === "string" ? envelope.request_id : headers.get("x-request-id");
  if (status === 429 || code === "RATE_LIMIT_EXCEEDED") {
    const retryAfter = parseRetryAfter(headers.get("retry-after"));
    return new RateLimitError(status, code, message, details, requestId, headers, retryAfter);
  }
  const cls = BY_CODE[code] ?? BY_STATUS[status] ?? (status >= 500 ? InternalServerError : APIError);
  return new cls(status, code, message, details, requestId, headers);
}
