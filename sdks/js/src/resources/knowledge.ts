/** Knowledge bases: documents in, cited chunks out. */

import type { Paginator } from "../pagination.js";
import type { Document, JSONObject, KnowledgeBase, ListParams, QueryResponse } from "../types.js";
import { Resource, enc } from "./base.js";

export interface KnowledgeBaseCreate {
  name: string;
  description?: string | null;
  embedding?: { provider?: string; model?: string | null };
  chunking?: { strategy?: "recursive" | "fixed"; size?: number; overlap?: number };
  retrieval?: JSONObject;
}

/** A file (multipart upload) or a text / JSON / URL document (JSON body). */
export type DocumentUpload =
  | {
      file: Blob | ArrayBuffer | Uint8Array;
      /** The file name; its extension picks the parser (`.md`, `.pdf`, …). */
      name: string;
      tags?: string[];
      metadata?: Record<string, string | number | boolean>;
    }
  | {
      file?: undefined;
      name?: string;
      text?: string;
      json?: unknown;
      url?: string;
      format?: "txt" | "md" | "html" | "csv" | "json";
      tags?: string[];
      metadata?: Record<string, string | number | boolean>;
    };

export class KnowledgeBases extends Resource {
  create(params: KnowledgeBaseCreate): Promise<KnowledgeBase> {
    return this.post("/knowledge-bases", params);
  }

  list(params: ListParams = {}): Paginator<KnowledgeBase> {
    return this.paginate("/knowledge-bases", params);
  }

  retrieve(kbId: string): Promise<KnowledgeBase> {
    return this.get(`/knowledge-bases/${enc(kbId)}`);
  }

  update(kbId: string, params: Partial<KnowledgeBaseCreate>): Promise<KnowledgeBase> {
    return this.patch(`/knowledge-bases/${enc(kbId)}`, params);
  }

  /** Re-index every document, optionally with a new embedding model. */
  reindex(kbId: string, params: { embedding?: KnowledgeBaseCreate["embedding"] | null } = {}): Promise<KnowledgeBase> {
    return this.post(`/knowledge-bases/${enc(kbId)}/reindex`, params);
  }

  delete(kbId: string): Promise<void> {
    return this.del(`/knowledge-bases/${enc(kbId)}`);
  }

  /** Add a document; it is parsed, chunked and embedded in the background (`status`). */
  upload(kbId: string, params: DocumentUpload): Promise<Document> {
    const path = `/knowledge-bases/${enc(kbId)}/documents`;
    if (params.file === undefined) return this.post(path, params);
    const { file, name, tags, metadata } = params;
    const form = new FormData();
    const blob = file instanceof Blob ? file : new Blob([file as BlobPart]);
    form.append("file", blob, name);
    form.append("name", name);
    if (tags?.length) form.append("tags", tags.join(","));
    if (metadata) form.append("metadata", JSON.stringify(metadata));
    return this.core.request<Document>("POST", path, { form });
  }

  documents(kbId: string, params: ListParams & { status?: string } = {}): Paginator<Document> {
    return this.paginate(`/knowledge-bases/${enc(kbId)}/documents`, params);
  }

  document(kbId: string, docId: string): Promise<Document> {
    return this.get(`/knowledge-bases/${enc(kbId)}/documents/${enc(docId)}`);
  }

  deleteDocument(kbId: string, docId: string): Promise<void> {
    return this.del(`/knowledge-bases/${enc(kbId)}/documents/${enc(docId)}`);
  }

  /** Search: `mode` semantic, keyword or hybrid (the knowledge base's default). */
  query(
    kbId: string,
    params: {
      query: string;
      mode?: "semantic" | "keyword" | "hybrid";
      topK?: number;
      minScore?: number;
      filters?: { documentIds?: string[]; tags?: string[]; metadata?: JSONObject };
    },
  ): Promise<QueryResponse> {
    return this.post(`/knowledge-bases/${enc(kbId)}/query`, params);
  }
}
