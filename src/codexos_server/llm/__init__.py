"""Chat models: one async port (completion, streaming, tool calls, token usage) and its
adapters — `local` (llama.cpp), `openai` (any OpenAI-compatible API) and `scripted`."""
