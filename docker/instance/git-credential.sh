#!/bin/sh
# git's credential helper on a ClaudeCloud workstation, installed as
# /opt/claudecloud/bin/git-credential-claudecloud and named by the system git configuration for
# the git provider's host: it asks the agent for a current token (agent.gitcredential). Isolated
# (-I): the repository git runs in cannot shadow the helper's code.
exec /opt/claudecloud/agent/bin/python -I -m agent.gitcredential "$@"
