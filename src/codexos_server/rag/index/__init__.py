"""RAG: index."""
