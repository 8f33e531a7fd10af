#!/bin/bash
# Make this machine a ClaudeCloud instance. Idempotent: running it again changes only what is
# missing or given anew. The instance Dockerfile runs it at build time; the Hetzner cloud-init
# template runs the same script on a fresh server.
#
#   setup.sh [CONTEXT_DIR]
#
# CONTEXT_DIR (default: the script's folder) may hold what the machine cannot download itself:
#   wheels/        the agent's Python wheels (claudecloud-agent, its API claudecloud-agentapi and
#                  their dependencies); installed into /opt/claudecloud/agent with no index (no
#                  HTTPS needed)
#   claude-code/   the Claude Code native executable `claude` (from npm's
#                  @anthropic-ai/claude-code-linux-x64 package), installed as /usr/local/bin/claude
#   *.sh           supervisor.sh, tmux-session.sh, claude-pane.sh, shell-pane.sh, healthcheck.sh,
#                  git-credential.sh (git's credential helper: asks the agent for the platform's token)
#
# Environment:
#   CLAUDE_CODE   1 = install Claude Code from CONTEXT_DIR/claude-code (default 1); standin = the
#                 same with the tests' stand-in there instead; anything else = skip
#   DATA_DIR      the user's persistent data and home (default /claude-data)
#   INSTANCE_USER the non-root user everything runs as (default claude)
#   GIT_CREDENTIAL_HOST  the git host whose credentials the helper answers for until the agent
#                 learns the platform's own (default https://github.com)
#   SETUP_STEPS   which steps to run, in order (default: packages user scripts git agent claude_code)
set -euo pipefail

CONTEXT="${1:-$(cd "$(dirname "$0")" && pwd)}"
CLAUDE_CODE="${CLAUDE_CODE:-1}"
DATA_DIR="${DATA_DIR:-/claude-data}"
INSTANCE_USER="${INSTANCE_USER:-claude}"
PREFIX=/opt/claudecloud
GIT_CREDENTIAL_HOST="${GIT_CREDENTIAL_HOST:-https://github.com}"
SETUP_STEPS="${SETUP_STEPS:-packages user scripts git agent claude_code}"
PACKAGES=(bash ca-certificates curl git nodejs openssh-client procps python3 python3-venv tmux)

say() { printf '[setup] %s\n' "$*" >&2; }

install_packages() {
    local missing=()
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$package")
    done
    [ "${#missing[@]}" -eq 0 ] && { say "packages: all present"; return; }
    say "packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    rm -rf /var/lib/apt/lists/*
}

create_user() {
    if id "$INSTANCE_USER" >/dev/null 2>&1; then
        say "user: $INSTANCE_USER exists"
    else
        say "user: creating $INSTANCE_USER (home $DATA_DIR)"
        useradd --create-home --home-dir "$DATA_DIR" --shell /bin/bash "$INSTANCE_USER"
    fi
    mkdir -p "$DATA_DIR"
    chown "$INSTANCE_USER:" "$DATA_DIR"
    chmod 0750 "$DATA_DIR"
}

install_scripts() {
    install -d "$PREFIX/bin"
    for script in supervisor.sh tmux-session.sh claude-pane.sh shell-pane.sh healthcheck.sh; do
        install -m 0755 "$CONTEXT/$script" "$PREFIX/bin/$script"
    done
    install -m 0755 "$CONTEXT/git-credential.sh" "$PREFIX/bin/git-credential-claudecloud"
    say "scripts: installed in $PREFIX/bin"
}

# Git asks the platform for credentials with no setup by the user: the system configuration
# includes a file the agent writes (credential.<host>.helper for the provider's hosts, learned
# from the gateway at start); until then it names GIT_CREDENTIAL_HOST. The folder also holds the
# agent's socket for the helper (0600: the instance's user alone may ask it).
configure_git() {
    local run="$PREFIX/run"
    install -d -o "$INSTANCE_USER" -g "$INSTANCE_USER" -m 0755 "$run"
    if [ ! -f "$run/gitconfig" ]; then
        printf '[credential "%s"]\n\thelper = %s\n' "$GIT_CREDENTIAL_HOST" \
            "$PREFIX/bin/git-credential-claudecloud" >"$run/gitconfig"
        chown "$INSTANCE_USER:" "$run/gitconfig"
    fi
    git config --system --get-all include.path | grep -qxF "$run/gitconfig" \
        || git config --system --add include.path "$run/gitconfig"
    say "git: credentials for $GIT_CREDENTIAL_HOST (until the agent learns the platform's hosts)"
}

install_agent() {
    if [ ! -d "$CONTEXT/wheels" ]; then
        [ -x "$PREFIX/agent/bin/python" ] || { say "agent: no wheels in $CONTEXT/wheels"; exit 1; }
        say "agent: already installed, no new wheels given"
        return
    fi
    [ -x "$PREFIX/agent/bin/python" ] || python3 -m venv "$PREFIX/agent"
    "$PREFIX/agent/bin/python" -m pip install --quiet --no-index --disable-pip-version-check \
        --find-links "$CONTEXT/wheels" --upgrade claudecloud-agent claudecloud-agentapi
    say "agent: $("$PREFIX/agent/bin/python" -m pip --disable-pip-version-check show claudecloud-agent | grep ^Version)"
}

install_claude_code() {
    if [ "$CLAUDE_CODE" != "1" ] && [ "$CLAUDE_CODE" != "standin" ]; then
        say "claude code: skipped (CLAUDE_CODE=$CLAUDE_CODE)"
        return
    fi
    local source="$CONTEXT/claude-code/claude" target=/usr/local/lib/claude-code/claude
    # The Dockerfile copies the executable straight to $target; cloud-init hands it in CONTEXT.
    if [ -x "$source" ] && [ "$(realpath "$source")" != "$target" ]; then
        install -d "$(dirname "$target")"
        install -m 0755 "$source" "$target"
    fi
    [ -x "$target" ] && ln -sf "$target" /usr/local/bin/claude
    command -v claude >/dev/null 2>&1 || { say "claude code: not found in $CONTEXT/claude-code"; exit 1; }
    say "claude code: installed"
}

for step in $SETUP_STEPS; do
    case "$step" in
        packages) install_packages ;;
        user) create_user ;;
        scripts) install_scripts ;;
        git) configure_git ;;
        agent) install_agent ;;
        claude_code) install_claude_code ;;
        *) say "unknown step: $step"; exit 2 ;;
    esac
done
say "done: $SETUP_STEPS"
