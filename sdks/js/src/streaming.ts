/** Server-sent events (`text/event-stream`) as async iterators. */

import { camelKeys } from "./casing.js";

/** An event of a run or workflow run, as the bus publishes it. */
export interface StreamEvent<D = Record<string, unknown>> {
  channel: string;
  seq: number;
  type: string;
  data: D;
  ts: string;
}

/** Parse an SSE body into its `data:` payloads (JSON, keys camelCased). */
export async function* parseSSE<T = StreamEvent>(response: Response): AsyncGenerator<T> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      buffer = buffer.replace(/\r\n?/g, "\n");
      let boundary: number;
      while ((boundary = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        const data = block
          .split("\n")
          .filter((line) => line.startsWith("data:"))
          .map((line) => line.slice(5).replace(/^ /, ""))
          .join("\n");
        if (data) yield camelKeys<T>(JSON.parse(data));
      }
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}
