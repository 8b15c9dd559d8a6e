"""Tools an agent can call: built-ins register in TOOLS; user-defined HTTP tools come from
the workspace's tool definitions."""
