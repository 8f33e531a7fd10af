"""The checkpoint's git side, on real repositories in a temporary data folder: one WIP commit per
repository with changes, and the user's work byte for byte as it was (status, HEAD, branches,
stashes, the index file's checksum, the working tree's files), whatever state the repository is in;
and the deadline, kept however many repositories there are or however slow one is."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.checkpoint import CheckpointService
from agent.settings import AgentSettings
from claudecloud_agentapi import Checkpoint, CheckpointRequest, RepoCheckpoint, RepoOutcome
from tests.support import eventually

WIP = "refs/heads/claudecloud/wip/"
AUTHOR = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.com",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.com",
}


class Repo:
    """A repository the way a user leaves one, and everything about it a checkpoint must keep."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, check: bool = True) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        # Our own looks take no optional lock: reading never rewrites the index here.
        env |= AUTHOR | {"GIT_OPTIONAL_LOCKS": "0"}
        done = subprocess.run(
            ["git", *args], cwd=self.path, env=env, capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"git {args}: {done.stderr}")
        return done.stdout

    def write(self, name: str, text: str | bytes) -> None:
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            target.write_bytes(text)
        else:
            target.write_text(text)

    def commit(self, message: str, **files: str) -> None:
        for name, text in files.items():
            self.write(name, text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def wip_refs(self) -> list[str]:
        return self.git("for-each-ref", "--format=%(refname)", WIP).split()

    def fingerprint(self) -> dict[str, Any]:
        """What the user sees of their repository; a checkpoint must leave all of it as it was."""
        index = self.path / ".git" / "index"
        return {
            "status": self.git("status", "--porcelain=v1", "--untracked-files=all"),
            "head": (self.path / ".git" / "HEAD").read_text(),
            "head_commit": self.git("rev-parse", "-q", "--verify", "HEAD", check=False),
            "branches": [r for r in self.git("for-each-ref").splitlines() if WIP not in r],
            "stashes": self.git("stash", "list"),
            "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else None,
            "merge_head": (self.path / ".git" / "MERGE_HEAD").exists(),
            "files": {
                str(p.relative_to(self.path)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.path.rglob("*"))
                if p.is_file() and ".git" not in p.relative_to(self.path).parts
            },
        }

    def show(self, commit: str, name: str) -> str:
        return self.git("show", f"{commit}:{name}")

    def tree(self, commit: str) -> set[str]:
        return set(self.git("ls-tree", "-r", "--name-only", commit).split())


def service(root: Path, **settings: Any) -> CheckpointService:
    config = AgentSettings(secret=SecretStr("s" * 32), data_dir=root, **settings)
    return CheckpointService(root, config, asyncio.Lock())


async def checkpoint(root: Path, deadline: float = 10.0, **settings: Any) -> Checkpoint:
    request = CheckpointRequest(reason="idle", deadline_seconds=deadline)
    return await service(root, **settings).take(request)


def one(taken: Checkpoint, path: str) -> RepoCheckpoint:
    (found,) = [r for r in taken.repositories if r.path == path]
    return found


@pytest.fixture
def root(tmp_path: Path) -> Path:
    found = tmp_path / "claude-data"
    found.mkdir()
    return found


async def test_staged_unstaged_and_untracked_changes_are_one_commit_and_nothing_else_moves(
    root: Path,
) -> None:
    repo = Repo(root / "app")
    repo.commit("init", **{"a.txt": "a\n", "b.txt": "b\n", ".gitignore": "build/\n"})
    repo.git("branch", "feature")
    repo.write("a.txt", "stashed\n")
    repo.git("stash")  # a stash of the user's own, which must stay theirs
    repo.write("a.txt", "a staged\n")
    repo.git("add", "a.txt")
    repo.write("b.txt", "b unstaged\n")
    repo.write("notes/c.txt", "c untracked\n")
    repo.write("build/out.log", "ignored\n")
    before = repo.fingerprint()

    taken = await checkpoint(root)

    assert repo.fingerprint() == before
    saved = one(taken, "app")
    assert saved.outcome == RepoOutcome.SAVED, saved
    assert (saved.branch, saved.head) == ("main", repo.git("rev-parse", "HEAD").strip())
    assert saved.files_changed == 3
    assert saved.note is None
    assert repo.wip_refs() == [f"refs/heads/{saved.ref}"]
    assert saved.ref is not None
    assert saved.ref.startswith("claudecloud/wip/")
    assert saved.commit == repo.git("rev-parse", saved.ref).strip()
    assert repo.git("rev-parse", f"{saved.commit}^").strip() == saved.head
    assert repo.show(saved.commit, "a.txt") == "a staged\n"
    assert repo.show(saved.commit, "b.txt") == "b unstaged\n"
    assert repo.show(saved.commit, "notes/c.txt") == "c untracked\n"
    assert "build/out.log" not in repo.tree(saved.commit)
    assert taken.complete
    assert taken.errors == []


async def test_a_clean_repository_gets_no_commit(root: Path) -> None:
    repo = Repo(root / "clean")
    repo.commit("init", **{"a.txt": "a\n"})
    before = repo.fingerprint()

    taken = await checkpoint(root)

    assert one(taken, "clean").outcome == RepoOutcome.CLEAN
    assert one(taken, "clean").ref is None
    assert repo.wip_refs() == []
    assert repo.fingerprint() == before


async def test_mid_merge_the_conflicts_are_saved_and_the_merge_left_in_progress(
    root: Path,
) -> None:
    repo = Repo(root / "merging")
    repo.commit("init", **{"a.txt": "base\n"})
    repo.git("checkout", "-q", "-b", "other")
    repo.commit("theirs", **{"a.txt": "theirs\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("ours", **{"a.txt": "ours\n"})
    repo.git("merge", "other", check=False)  # a conflict in a.txt
    repo.write("new.txt", "while merging\n")
    before = repo.fingerprint()
    assert before["merge_head"]
    stages = repo.git("ls-files", "-u")

    taken = await checkpoint(root)

    assert repo.fingerprint() == before
    assert repo.git("ls-files", "-u") == stages  # the conflict stages, still in the index
    saved = one(taken, "merging")
    assert saved.outcome == RepoOutcome.SAVED
    assert saved.note is not None
    assert saved.note.startswith("mid-merge:")
    assert saved.commit is not None
    assert "<<<<<<<" in repo.show(saved.commit, "a.txt")
    assert repo.show(saved.commit, "new.txt") == "while merging\n"
    repo.git("merge", "--abort")  # the user can still leave the merge as git left it
    assert repo.show("HEAD", "a.txt") == "ours\n"


async def test_mid_rebase_the_conflicts_are_saved_and_the_rebase_left_in_progress(
    root: Path,
) -> None:
    repo = Repo(root / "rebasing")
    repo.commit("init", **{"a.txt": "base\n"})
    repo.git("checkout", "-q", "-b", "topic")
    repo.commit("topic", **{"a.txt": "topic\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("main", **{"a.txt": "main\n"})
    repo.git("checkout", "-q", "topic")
    repo.git("rebase", "main", check=False)  # stops at the conflict in a.txt
    assert (repo.path / ".git" / "rebase-merge").is_dir()
    before = repo.fingerprint()

    saved = one(await checkpoint(root), "rebasing")

    assert repo.fingerprint() == before
    head = repo.git("rev-parse", "HEAD").strip()
    assert saved.outcome == RepoOutcome.SAVED
    assert saved.note == (
        "mid-rebase: the working tree is saved with its conflict markers; the rebase itself is"
        f" left in progress; detached HEAD at {head[:7]}"
    )
    assert saved.commit is not None
    assert "<<<<<<<" in repo.show(saved.commit, "a.txt")
    repo.git("rebase", "--abort")
    assert repo.git("symbolic-ref", "--short", "HEAD").strip() == "topic"


async def test_empty_repositories_are_said_and_left_without_commits(root: Path) -> None:
    nothing = Repo(root / "nothing")
    started = Repo(root / "started")
    started.write("first.txt", "not committed yet\n")
    before = started.fingerprint()

    taken = await checkpoint(root)

    assert one(taken, "nothing").outcome == RepoOutcome.CLEAN
    assert one(taken, "nothing").note == "no commits yet"
    assert nothing.wip_refs() == []
    root_commit = one(taken, "started")
    assert root_commit.outcome == RepoOutcome.SAVED
    assert root_commit.note == "no commits yet: a root commit"
    assert (root_commit.branch, root_commit.head) == (None, None)
    assert root_commit.commit is not None
    assert started.git("rev-list", "--parents", "-n1", root_commit.commit).split() == [
        root_commit.commit
    ]  # no parent
    assert started.show(root_commit.commit, "first.txt") == "not committed yet\n"
    assert started.fingerprint() == before  # HEAD still unborn, no index made


async def test_detached_head_is_saved_on_top_of_it(root: Path) -> None:
    repo = Repo(root / "detached")
    repo.commit("one", **{"a.txt": "1\n"})
    repo.commit("two", **{"a.txt": "2\n"})
    repo.git("checkout", "-q", "HEAD~1")
    repo.write("a.txt", "changed while detached\n")
    before = repo.fingerprint()

    saved = one(await checkpoint(root), "detached")

    assert repo.fingerprint() == before
    head = repo.git("rev-parse", "HEAD").strip()
    assert (saved.outcome, saved.branch, saved.head) == (RepoOutcome.SAVED, None, head)
    assert saved.note == f"detached HEAD at {head[:7]}"
    assert repo.git("rev-parse", f"{saved.commit}^").strip() == head


async def test_a_file_over_the_size_limit_is_left_out_and_listed(root: Path) -> None:
    repo = Repo(root / "big")
    repo.commit("init", **{"a.txt": "a\n"})
    repo.write("data/dump.bin", b"x" * 5000)
    repo.write("a.txt", "small change\n")
    only_big = Repo(root / "only-big")
    only_big.commit("init", **{"a.txt": "a\n"})
    only_big.write("dump.bin", b"x" * 5000)
    before = repo.fingerprint()

    taken = await checkpoint(root, checkpoint_max_file_bytes=4096)

    saved = one(taken, "big")
    assert (saved.outcome, saved.left_out, saved.files_changed) == (
        RepoOutcome.SAVED, ["data/dump.bin"], 1,
    )  # fmt: skip
    assert saved.note == "1 file(s) over 0.00390625 MB left out"
    assert saved.commit is not None
    assert "data/dump.bin" not in repo.tree(saved.commit)
    assert repo.show(saved.commit, "a.txt") == "small change\n"
    assert repo.fingerprint() == before
    assert one(taken, "only-big").outcome == RepoOutcome.CLEAN
    assert one(taken, "only-big").left_out == ["dump.bin"]
    assert only_big.wip_refs() == []


async def test_clean_filters_run_as_for_any_git_add(root: Path) -> None:
    # As Git LFS's filter would put a pointer in the commit instead of the file.
    repo = Repo(root / "filtered")
    repo.commit("init", **{".gitattributes": "*.up filter=upper\n"})
    repo.git("config", "filter.upper.clean", "tr a-z A-Z")
    repo.write("note.up", "quiet words\n")
    before = repo.fingerprint()

    saved = one(await checkpoint(root), "filtered")

    assert saved.commit is not None
    assert repo.show(saved.commit, "note.up") == "QUIET WORDS\n"
    assert (repo.path / "note.up").read_text() == "quiet words\n"
    assert repo.fingerprint() == before


async def test_an_unchanged_repository_keeps_its_last_wip_branch_and_old_ones_go(
    root: Path,
) -> None:
    repo = Repo(root / "app")
    repo.commit("init", **{"a.txt": "a\n"})
    repo.write("a.txt", "one\n")
    first = one(await checkpoint(root, checkpoint_keep=2), "app")
    again = one(await checkpoint(root, checkpoint_keep=2), "app")
    assert (again.ref, again.commit) == (first.ref, first.commit)
    assert again.note == f"unchanged since the checkpoint {first.ref}"

    refs = [first.ref]
    for text in ("two\n", "three\n"):
        repo.write("a.txt", text)
        refs.append(one(await checkpoint(root, checkpoint_keep=2), "app").ref)

    assert len(set(refs)) == 3
    assert repo.wip_refs() == sorted(f"refs/heads/{r}" for r in refs[1:])  # the newest two


async def test_a_repository_git_refuses_fails_alone(root: Path) -> None:
    blocked = Repo(root / "blocked")
    blocked.commit("init", **{"a.txt": "a\n"})
    blocked.git("branch", "claudecloud")  # a branch of the user's where our folder would be
    blocked.write("a.txt", "changed\n")
    fine = Repo(root / "fine")
    fine.commit("init", **{"a.txt": "a\n"})
    fine.write("a.txt", "changed\n")
    before = blocked.fingerprint()

    taken = await checkpoint(root)

    failed = one(taken, "blocked")
    assert failed.outcome == RepoOutcome.FAILED
    assert failed.note is not None
    assert "update-ref" in failed.note
    assert blocked.fingerprint() == before
    assert one(taken, "fine").outcome == RepoOutcome.SAVED
    assert taken.complete  # every repository was reached; one of them said no


def _running(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


async def test_the_deadline_cuts_a_slow_repository_short_and_kills_its_git(root: Path) -> None:
    slow = Repo(root / "slow")
    slow.commit("init", **{".gitattributes": "*.txt filter=slow\n"})
    marker = f"{time.time_ns() % 10**9}.5"
    slow.git("config", "filter.slow.clean", f"sleep {marker}; cat")  # a filter that hangs
    slow.write("a.txt", "changed\n")
    quick = Repo(root / "quick")
    quick.commit("init", **{"a.txt": "a\n"})
    quick.write("a.txt", "changed\n")
    before = slow.fingerprint()

    started = time.monotonic()
    taken = await checkpoint(root, deadline=2.0)
    elapsed = time.monotonic() - started

    assert elapsed < 2.0
    assert one(taken, "slow").outcome == RepoOutcome.NOT_REACHED
    assert slow.wip_refs() == []  # never half a checkpoint
    assert one(taken, "quick").outcome == RepoOutcome.SAVED
    assert not taken.complete
    await eventually(lambda: not _running(f"sleep {marker}"), timeout=5, what="the filter killed")
    assert slow.fingerprint() == before


async def test_the_deadline_is_kept_with_many_repositories(root: Path) -> None:
    repos = [Repo(root / "many" / f"repo-{n:03}") for n in range(60)]
    for repo in repos:
        repo.commit("init", **{"a.txt": "a\n"})
        repo.write("a.txt", "changed\n")
        repo.write("b.txt", "new\n")

    started = time.monotonic()
    taken = await checkpoint(root, deadline=1.0)
    elapsed = time.monotonic() - started

    assert elapsed < 1.0
    assert len(taken.repositories) == len(repos)
    outcomes = {r.outcome for r in taken.repositories}
    assert outcomes <= {RepoOutcome.SAVED, RepoOutcome.NOT_REACHED}
    for saved, repo in zip(taken.repositories, repos, strict=True):
        has_ref = [f"refs/heads/{saved.ref}"] if saved.outcome == RepoOutcome.SAVED else []
        assert repo.wip_refs() == has_ref
    assert taken.complete == (outcomes == {RepoOutcome.SAVED})


async def test_a_second_checkpoint_meanwhile_says_the_first_is_running(root: Path) -> None:
    slow = Repo(root / "slow")
    slow.commit("init", **{".gitattributes": "*.txt filter=slow\n"})
    slow.git("config", "filter.slow.clean", "sleep 1; cat")
    slow.write("a.txt", "changed\n")
    checkpoints = service(root)
    request = CheckpointRequest(reason="idle", deadline_seconds=10)

    first, second = await asyncio.gather(checkpoints.take(request), checkpoints.take(request))

    assert one(first, "slow").outcome == RepoOutcome.SAVED
    assert (second.complete, second.errors) == (False, ["another checkpoint was still running"])
    assert second.repositories == []
    third = await checkpoints.take(request)  # and the lock is free again
    assert one(third, "slow").note == f"unchanged since the checkpoint {one(first, 'slow').ref}"
