"""The gateway: the public HTTP/WebSocket edge of ClaudeCloud."""
