#!/bin/bash
# The left pane of the `claude` session: Claude Code, started again whenever it exits, after a
# few seconds that say why it exited and where the shell is. Runs that end quickly (Claude Code
# cannot start, or cannot reach Anthropic) wait longer each time, up to a minute.
#
# The user's stored API key or OAuth token (the agent keeps it in CREDENTIAL_FILE: the variable's
# name, then its value) goes into the environment of Claude Code's own process only, read anew at
# every start; neither this script nor tmux ever holds it in theirs. Signed out (no such file and
# no ~/.claude/.credentials.json from Claude's own /login), the pane first says how to sign in.
#
# Where Claude has a conversation for this folder (its transcripts, kept on the volume), the pane
# starts `claude --continue`, so after a wake from a stop Claude is where the user left it. A
# --continue that fails at once (the conversation would not load) is followed by plain starts
# until a run lasts.
QUICK_SECONDS=10
CREDENTIAL_FILE="$HOME/.config/claudecloud/claude-credential"
delay=3

conversation_here() {  # Claude's folder for this one: every non-alphanumeric is a '-'
    local folder
    folder="${CLAUDE_CONFIG_DIR:-$HOME/.claude}/projects/$(pwd -P | sed 's/[^A-Za-z0-9]/-/g')"
    compgen -G "$folder/*-*-*-*-*.jsonl" >/dev/null
}

signed_in() {
    [ -s "$CREDENTIAL_FILE" ] || [ -f "${CLAUDE_CONFIG_DIR:-$HOME/.claude}/.credentials.json" ]
}

run_claude() {  # in a subshell: the export reaches only the exec'd claude; "$@": its options
    (
        name="" value=""
        [ -r "$CREDENTIAL_FILE" ] && { IFS= read -r name; IFS= read -r value; } <"$CREDENTIAL_FILE"
        case "$name" in
            ANTHROPIC_API_KEY | CLAUDE_CODE_OAUTH_TOKEN) [ -n "$value" ] && export "$name=$value" ;;
        esac
        unset name value
        exec claude "$@"
    )
}

describe() {  # an exit status in words
    local code=$1 name
    if [ "$code" -gt 128 ] && name="$(kill -l "$((code - 128))" 2>/dev/null)"; then
        printf 'was stopped by SIG%s (exit code %d)' "$name" "$code"
    else
        printf 'exited with code %d' "$code"
    fi
}

resume=1
while true; do
    if ! command -v claude >/dev/null 2>&1; then
        echo "Claude Code is not installed in this image"
        echo "(built with CLAUDE_CODE=0): here is a shell."
        bash -l
        continue
    fi
    if ! signed_in; then
        printf '\033[1mClaude is not signed in on this workstation.\033[0m Two ways in:\n'
        printf ' - /login below (your Claude subscription), or\n'
        printf ' - store an API key or OAuth token:\n   claude-cloud claude-key set\n\n'
    fi
    options=()
    if [ "$resume" = 1 ] && conversation_here; then
        options=(--continue)
    fi
    started=$SECONDS
    # stderr stays Claude's; the shell's own "Killed" notice is left out (the text below says it).
    { run_claude "${options[@]}" 2>&3; } 3>&2 2>/dev/null
    code=$?
    if [ $((SECONDS - started)) -ge "$QUICK_SECONDS" ]; then
        delay=3
        resume=1
    elif [ "${#options[@]}" -gt 0 ] && [ "$code" -ne 0 ]; then
        resume=0
    fi
    # Short lines: the pane is 56 columns wide in an 80-column window.
    printf '\n\033[1mClaude Code %s.\033[0m\n' "$(describe "$code")"
    printf 'It starts again in %d s (Enter: now, s: a shell here).\n' "$delay"
    printf 'The right pane is always a shell: Ctrl-b o goes there.\n'
    key=""
    read -r -s -n 1 -t "$delay" key
    if [ "$key" = s ]; then
        echo "A shell in Claude's pane: type exit to get Claude Code back."
        bash -l
    fi
    delay=$((delay * 2 > 60 ? 60 : delay * 2))
done
