"""Local stand-ins for the platforms collectors read (HTTP APIs, feeds, a WebSocket firehose)."""
