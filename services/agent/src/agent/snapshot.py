"""One repository's work in progress, saved as a commit without touching the user's work.

The commit is made the way ``git stash create`` would not: from a copy of the index in a temporary
file (``GIT_INDEX_FILE``, an absolute path), to which ``git add -A`` adds every change of the
working tree, untracked files included and ignored ones not; ``write-tree`` and ``commit-tree``
make the commit and ``update-ref`` names it ``claudecloud/wip/<UTC time>``. Nothing else is
written: HEAD, the index (byte for byte), the working tree, stashes and the user's branches stay
as they were, and so does a merge or rebase in progress (its conflicted files are saved with their
markers). Hooks, fsmonitor daemons and signing are turned off for these commands; clean filters
(LFS) run, as for any ``git add``.

Every git process runs in a process group of its own, killed when the checkpoint's deadline
cancels the task, so a slow filter or a huge file never outlives the checkpoint. The branch is
written last, in one step: a repository the deadline cut short has no WIP branch, never half of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claudecloud_agentapi import RepoCheckpoint, RepoOutcome

WIP_PREFIX = "refs/heads/claudecloud/wip/"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
GIT_OPTIONS = (
    *("-c", "core.hooksPath=/dev/null"),  # no hook (reference-transaction) runs for our refs
    *("-c", "core.fsmonitor=false"),
    *("-c", "commit.gpgSign=false"),  # signing could wait for a passphrase
    *("-c", "gc.auto=0"),
    *("-c", "maintenance.auto=false"),
)
IDENTITY = {
    "GIT_AUTHOR_NAME": "ClaudeCloud checkpoint",
    "GIT_AUTHOR_EMAIL": "checkpoint@claudecloud.invalid",
    "GIT_COMMITTER_NAME": "ClaudeCloud checkpoint",
    "GIT_COMMITTER_EMAIL": "checkpoint@claudecloud.invalid",
}
IN_PROGRESS = (
    ("MERGE_HEAD", "merge"),
    ("rebase-merge", "rebase"),
    ("rebase-apply", "rebase"),
    ("CHERRY_PICK_HEAD", "cherry-pick"),
    ("REVERT_HEAD", "revert"),
)


class GitFailed(Exception):
    """A git command exited with an error; the message is git's own last line."""


@dataclass(frozen=True)
class RepoState:
    git_dir: Path
    index: Path
    branch: str | None
    """``refs/heads/<name>``, also when it has no commits yet; None: detached."""
    head: str | None


@dataclass(frozen=True)
class WipRef:
    name: str
    commit: str
    tree: str
    parent: str


@dataclass(frozen=True)
class Snapshot:
    """What one checkpoint asks of every repository."""

    root: Path
    """The data folder; paths are said relative to it."""
    stamp: str
    """The UTC time naming the WIP branches, ``20261207T174301Z``."""
    reason: str
    max_file_bytes: int
    keep: int

    async def take(self, repo: Path) -> RepoCheckpoint:
        """The WIP commit of ``repo``'s changes, or why there is none; never raises for git."""
        path = str(repo.relative_to(self.root))
        try:
            return await self._take(repo, path)
        except (GitFailed, OSError) as exc:
            return RepoCheckpoint(path=path, outcome=RepoOutcome.FAILED, note=str(exc)[:500])

    async def _take(self, repo: Path, path: str) -> RepoCheckpoint:
        state = await read_state(repo)
        with tempfile.TemporaryDirectory(prefix="claudecloud-checkpoint-") as folder:
            index = Path(folder) / "index"
            if state.index.is_file():
                await asyncio.to_thread(shutil.copyfile, state.index, index)
            env = git_env(GIT_INDEX_FILE=str(index))
            left_out = await self._too_big(repo, env)
            pathspecs = _everything_but(left_out)
            await git(repo, "add", "-A", "--pathspec-from-file=-", "--pathspec-file-nul",
                      env=env, stdin=pathspecs)  # fmt: skip
            tree = (await git(repo, "write-tree", env=env)).strip()
        changed = await _files_changed(repo, state.head, tree)
        notes = _notes(state, left_out, self.max_file_bytes, saving=changed > 0)
        found = RepoCheckpoint(
            path=path,
            outcome=RepoOutcome.CLEAN,
            branch=_short(state.branch) if state.head else None,
            head=state.head,
            files_changed=changed,
            left_out=[os.fsdecode(p) for p in left_out],
        )
        if changed == 0:
            return found.model_copy(update={"note": "; ".join(notes) or None})
        ref, commit, reused = await self._commit(repo, state, tree)
        if reused:
            notes.append(f"unchanged since the checkpoint {_short(ref)}")
        update = {"ref": _short(ref), "commit": commit, "note": "; ".join(notes) or None}
        return found.model_copy(update={"outcome": RepoOutcome.SAVED, **update})

    async def _too_big(self, repo: Path, env: dict[str, str]) -> list[bytes]:
        """Changed and untracked files over the size limit (``git add`` would store them)."""
        listed = await git_bytes(
            repo, "ls-files", "-z", "--modified", "--others", "--exclude-standard", env=env
        )
        paths = sorted({p for p in listed.split(b"\0") if p})
        return await asyncio.to_thread(_larger_than, repo, paths, self.max_file_bytes)

    async def _commit(self, repo: Path, state: RepoState, tree: str) -> tuple[str, str, bool]:
        """The WIP branch and commit holding ``tree``; an unchanged repository reuses its last."""
        wips = await wip_refs(repo)
        latest = wips[0] if wips else None
        if latest and latest.tree == tree and latest.parent == (state.head or ""):
            return latest.name, latest.commit, True
        parents = ["-p", state.head] if state.head else []
        message = self._message(state)
        made = await git(
            repo, "commit-tree", tree, *parents, "-m", message, env=git_env(**IDENTITY)
        )
        commit = made.strip()
        finish = _create_ref(repo, WIP_PREFIX + self.stamp, commit, wips, self.keep)
        return await _unstoppable(finish), commit, False

    def _message(self, state: RepoState) -> str:
        where = _short(state.branch) if state.branch and state.head else "detached HEAD"
        if state.head is None:
            where = "no commits yet"
        at = f" at {state.head[:7]}" if state.head else ""
        return (
            f"WIP before a stop ({self.reason}): {where}{at}\n\n"
            "Saved by ClaudeCloud before the workstation stopped, from a temporary index:\n"
            "HEAD, the index and the working tree were left as they were.\n"
        )


async def read_state(repo: Path) -> RepoState:
    """Where the repository keeps its index, its branch and its HEAD commit."""
    paths, branch, head = await asyncio.gather(
        git(repo, "rev-parse", "--absolute-git-dir", "--git-path", "index"),
        git(repo, "symbolic-ref", "-q", "HEAD", ok=(0, 1)),
        git(repo, "rev-parse", "-q", "--verify", "HEAD^{commit}", ok=(0, 1)),
    )
    git_dir, index = paths.splitlines()[:2]
    return RepoState(
        git_dir=Path(git_dir),
        index=repo / index,  # relative to the repository, or absolute (``/`` wins)
        branch=branch.strip() or None,
        head=head.strip() or None,
    )


async def wip_refs(repo: Path) -> list[WipRef]:
    """The repository's WIP branches, newest first (their names sort by time)."""
    listed = await git(
        repo, "for-each-ref", "--sort=-refname",
        "--format=%(refname) %(objectname) %(tree) %(parent)", WIP_PREFIX,
    )  # fmt: skip
    found = []
    for line in listed.splitlines():
        name, commit, tree, *parent = line.split(" ")
        found.append(WipRef(name, commit, tree, parent[0] if parent else ""))
    return found


async def _create_ref(repo: Path, name: str, commit: str, wips: list[WipRef], keep: int) -> str:
    """``name`` (or ``name-2``, ... when a checkpoint of the same second has it), created only if
    it does not exist, so a WIP branch is never moved; then the oldest past ``keep`` deleted."""
    taken = {w.name for w in wips}
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{name}-{number}"
    await git(repo, "update-ref", "-m", "claudecloud checkpoint", candidate, commit, "")
    await _delete(repo, [w.name for w in wips[keep - 1 :]])
    return candidate


async def _unstoppable(step: Coroutine[Any, Any, str]) -> str:
    """Finish ``step`` even when the deadline cancels the checkpoint meanwhile: writing the branch
    takes milliseconds, and once begun the answer must say whether it exists. The cancelled
    checkpoint still answers, as saved."""
    running = asyncio.ensure_future(step)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        return await running


async def _delete(repo: Path, refs: list[str]) -> None:
    """The oldest WIP branches, past the number kept (in one transaction)."""
    if refs:
        commands = "".join(f"delete {ref}\n" for ref in refs)
        await git(repo, "update-ref", "--stdin", stdin=commands.encode())


async def _files_changed(repo: Path, head: str | None, tree: str) -> int:
    if head is None:
        if tree == EMPTY_TREE:
            return 0
        listed = await git_bytes(repo, "ls-tree", "-r", "-z", "--name-only", tree)
    else:
        listed = await git_bytes(
            repo, "diff-tree", "-r", "-z", "--no-renames", "--name-only", head, tree
        )
    return len([p for p in listed.split(b"\0") if p])


def _notes(state: RepoState, left_out: list[bytes], limit: int, *, saving: bool) -> list[str]:
    notes = []
    for marker, doing in IN_PROGRESS:
        if (state.git_dir / marker).exists():
            notes.append(
                f"mid-{doing}: the working tree is saved with its conflict markers;"
                f" the {doing} itself is left in progress"
            )
            break
    if state.head is None:
        notes.append("no commits yet: a root commit" if saving else "no commits yet")
    elif state.branch is None:
        notes.append(f"detached HEAD at {state.head[:7]}")
    if left_out:
        notes.append(f"{len(left_out)} file(s) over {limit / 1024 / 1024:g} MB left out")
    return notes


def _larger_than(repo: Path, paths: list[bytes], limit: int) -> list[bytes]:
    root = os.fsencode(repo)
    found = []
    for path in paths:
        with contextlib.suppress(OSError):  # deleted in the working tree: nothing to store
            if os.lstat(os.path.join(root, path)).st_size > limit:
                found.append(path)
    return found


def _everything_but(left_out: list[bytes]) -> bytes:
    return b"\0".join([b".", *(b":(exclude,literal)" + p for p in left_out)]) + b"\0"


def _short(ref: str | None) -> str | None:
    return ref.removeprefix("refs/heads/") if ref else None


def git_env(**extra: str) -> dict[str, str]:
    """The agent's environment without any ``GIT_*`` of its own, never prompting, never taking
    optional locks (``git status`` would otherwise refresh the user's index)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"})
    env.update(extra)
    return env


async def git(
    repo: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    ok: tuple[int, ...] = (0,),
) -> str:
    """``git <args>``'s output in ``repo``; raises :class:`GitFailed` on another exit code."""
    return (await git_bytes(repo, *args, env=env, stdin=stdin, ok=ok)).decode(errors="replace")


async def git_bytes(
    repo: Path,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: bytes | None = None,
    ok: tuple[int, ...] = (0,),
) -> bytes:
    process = await asyncio.create_subprocess_exec(
        "git", *GIT_OPTIONS, *args,
        cwd=repo,
        env=env or git_env(),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # one group: a cancelled checkpoint kills git and its filters
    )  # fmt: skip
    try:
        out, err = await process.communicate(stdin)
    except asyncio.CancelledError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise
    if process.returncode not in ok:
        said = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        raise GitFailed(f"git {args[0]} failed: {said[-1] if said else process.returncode}")
    return out
