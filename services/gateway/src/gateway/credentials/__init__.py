"""The Claude credential each user may store (an Anthropic API key or a Claude Code OAuth token):
kept encrypted, never returned, and delivered to the user's running instance's agent."""
