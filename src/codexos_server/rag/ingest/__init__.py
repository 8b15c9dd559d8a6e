"""RAG: ingest."""
