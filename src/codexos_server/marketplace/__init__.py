"""The marketplace: listings, packages, installs, purchases, per-run charges and reviews."""
