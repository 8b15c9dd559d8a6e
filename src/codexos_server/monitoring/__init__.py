"""Health, readiness and (later) metrics."""
