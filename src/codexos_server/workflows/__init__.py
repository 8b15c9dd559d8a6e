"""Workflows: graphs of agents, tools and logic, run durably across workers."""
