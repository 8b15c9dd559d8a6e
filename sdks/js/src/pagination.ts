/** Cursor pagination over `{"items": [...], "next_cursor": str|null}`. */

import type { Core, Query } from "./core.js";

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * A list call: `for await (const x of client.agents.list())` walks every page;
 * `await list.firstPage()` fetches one page; `await list.toArray()` collects all.
 */
export class Paginator<T> implements AsyncIterable<T> {
  constructor(
    private readonly core: Core,
    private readonly path: string,
    private readonly query: Query = {},
  ) {}

  /** One page, starting at `cursor` (the first page by default). */
  async firstPage(cursor?: string | null): Promise<Page<T>> {
    const page = await this.core.request<Page<T>>("GET", this.path, {
      query: { ...this.query, ...(cursor ? { cursor } : {}) },
    });
    return { items: page.items, nextCursor: page.nextCursor ?? null };
  }

  /** Every page in turn. */
  async *pages(): AsyncGenerator<Page<T>> {
    let cursor: string | null | undefined = (this.query.cursor as string | undefined) ?? null;
    do {
      const page = await this.firstPage(cursor);
      yield page;
      cursor = page.nextCursor;
    } while (cursor);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for await (const page of this.pages()) yield* page.items;
  }

  async toArray(): Promise<T[]> {
    const all: T[] = [];
    for await (const item of this) all.push(item);
    return all;
  }
}
