"""``claude-cloud``: the command-line client of ClaudeCloud."""
