"""OAuth 2.0 authorization server for third-party apps (Authlib primitives, async storage)."""
