"""Event bus: publish/subscribe of JSON events on named channels, with per-channel sequence
numbers and a bounded replay buffer. In-process by default, Redis pub/sub at scale."""
