"""User accounts: profiles, roles, tiers and the admin operations on them."""
