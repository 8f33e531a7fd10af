"""The operator's command: what a team running ClaudeCloud needs without the NATS CLI."""
