/**
 * camelCase in the SDK, snake_case on the wire.
 *
 * Keys of SDK-defined objects are converted recursively in both directions. The VALUES of
 * free-form fields (user data whose keys the server does not define) are passed through
 * untouched, so `variables: { user_name: "x" }` or a workflow `spec` arrive exactly as
 * written: see OPAQUE_KEYS.
 */

/** Fields (snake_case wire names) whose values are user-defined JSON and never re-keyed. */
export const OPAQUE_KEYS: ReadonlySet<string> = new Set([
  "variables",
  "spec",
  "inputs",
  "input",
  "input_data",
  "output",
  "metadata",
  "details",
  "payload",
  "result",
  "progress",
  "options",
  "parameters",
  "headers",
  "reference",
  "requirements",
  "package",
  "snapshot",
  "arguments",
  "by_status",
  "json",
]);

export function toSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export function toCamel(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function convert(value: unknown, rename: (key: string) => string, wireName: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((item) => convert(item, rename, wireName));
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    out[rename(key)] = OPAQUE_KEYS.has(wireName(key)) ? item : convert(item, rename, wireName);
  }
  return out;
}

/** An SDK object (camelCase keys) as the API's JSON (snake_case keys). */
export function snakeKeys(value: unknown): unknown {
  return convert(value, toSnake, toSnake);
}

/** An API JSON value (snake_case keys) as an SDK object (camelCase keys). */
export function camelKeys<T = unknown>(value: unknown): T {
  return convert(value, toCamel, (key) => key) as T;
}
