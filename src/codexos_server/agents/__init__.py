"""Agents: definitions and versions, tools, conversations, runs and the agent loop."""
