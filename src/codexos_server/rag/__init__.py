"""The RAG engine: knowledge bases, document ingestion, embeddings, hybrid retrieval."""
