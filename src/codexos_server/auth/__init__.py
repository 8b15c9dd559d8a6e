"""Identity: passwords, sessions with rotating refresh tokens, API keys, scopes, principals."""
