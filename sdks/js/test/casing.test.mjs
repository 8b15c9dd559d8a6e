// camelCase <-> snake_case mapping, base URL normalization, Retry-After parsing (no server).
import assert from "node:assert/strict";
import { test } from "node:test";

import { OPAQUE_KEYS, normalizeBaseUrl, parseRetryAfter } from "../dist/esm/index.js";
import { camelKeys, snakeKeys } from "../dist/esm/casing.js";

test("keys are re-cased both ways; free-form values are not", () => {
  const out = snakeKeys({
    inputData: { someKey: 1 },
    maxSteps: 3,
    model: { maxTokens: 5, options: { topP: 1 } },
    variables: { userName: "x" },
    spec: { nodes: [{ id: "a", config: { promptText: "y" } }] },
    filters: { documentIds: ["d"], metadata: { camelKey: 1 } },
    skipped: undefined,
  });
  assert.deepEqual(out, {
    input_data: { someKey: 1 },
    max_steps: 3,
    model: { max_tokens: 5, options: { topP: 1 } },
    variables: { userName: "x" },
    spec: { nodes: [{ id: "a", config: { promptText: "y" } }] },
    filters: { document_ids: ["d"], metadata: { camelKey: 1 } },
  });
  assert.deepEqual(camelKeys({ run_id: "r", usage: { total_tokens: 3 }, output: { some_key: 1 }, details: [{ field_name: 1 }] }), {
    runId: "r",
    usage: { totalTokens: 3 },
    output: { some_key: 1 },
    details: [{ field_name: 1 }],
  });
  assert.ok(OPAQUE_KEYS.has("variables") && OPAQUE_KEYS.has("metadata"));
  // a marketplace version's package is the agent or workflow as exported: kept as is
  assert.deepEqual(camelKeys({ created_at: "t", package: { max_steps: 3, spec: { x_y: 1 } } }), {
    createdAt: "t",
    package: { max_steps: 3, spec: { x_y: 1 } },
  });
});

test("base URLs with or without /api/v1", () => {
  assert.equal(normalizeBaseUrl("https://api.codexos.dev"), "https://api.codexos.dev/api/v1");
  assert.equal(normalizeBaseUrl("https://api.codexos.dev/api/v1/"), "https://api.codexos.dev/api/v1");
  assert.equal(normalizeBaseUrl("http://localhost:8001/"), "http://localhost:8001/api/v1");
});

test("Retry-After as seconds or an HTTP date", () => {
  assert.equal(parseRetryAfter("3"), 3);
  assert.equal(parseRetryAfter(null), null);
  const inTwo = new Date(Date.now() + 2000).toUTCString();
  assert.ok(parseRetryAfter(inTwo) <= 2);
});
