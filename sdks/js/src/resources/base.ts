import type { Core, Query } from "../core.js";
import { Paginator } from "../pagination.js";

/** A group of API methods sharing the client's HTTP core. */
export abstract class Resource {
  constructor(protected readonly core: Core) {}

  protected get<T>(path: string, query?: Query): Promise<T> {
    return this.core.request<T>("GET", path, { query });
  }

  protected post<T>(path: string, body?: unknown, idempotent = false): Promise<T> {
    return this.core.request<T>("POST", path, { body, idempotent });
  }

  protected patch<T>(path: string, body: unknown): Promise<T> {
    return this.core.request<T>("PATCH", path, { body });
  }

  protected async del(path: string): Promise<void> {
    await this.core.request<unknown>("DELETE", path);
  }

  protected paginate<T>(path: string, query: object = {}): Paginator<T> {
    return new Paginator<T>(this.core, path, query as Query);
  }
}

export const enc = encodeURIComponent;
