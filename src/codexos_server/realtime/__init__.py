"""Real-time delivery of the event bus: WebSocket and the channel rules it shares with SSE
and GraphQL subscriptions."""
