"""Workspaces (tenants): membership, roles, invitations and ownership."""
