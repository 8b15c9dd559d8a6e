"""Durable background jobs: the job table is the source of truth; runners claim jobs with a
lease, heartbeat, retry with backoff, and a reaper re-queues the jobs of dead workers. A
broker (optional) only rings the doorbell: "job X is ready"."""
