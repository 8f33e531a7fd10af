#!/bin/bash
# The left pane of the `claude` session: Claude Code when it is installed, then a shell.
if command -v claude >/dev/null 2>&1; then
    claude
else
    echo "Claude Code is not installed in this image (built with CLAUDE_CODE=0)."
fi
exec bash -l
