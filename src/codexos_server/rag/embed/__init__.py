"""RAG: embed."""
