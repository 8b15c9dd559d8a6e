"""Credits: wallets, the double-entry ledger, top-ups through payment providers."""
