"""Database access: engine creation, the declarative base, sessions and migrations."""
