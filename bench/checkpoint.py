"""How long the checkpoint before a stop takes on a repository with 1,000 changed files, beside
what git itself needs for the same work, measured in the same run on the same repository.

The repository holds 3,000 committed files of 4 kB; 1,000 of them are changed (600 edited, 200
of those staged, 400 new and untracked). Each run edits one more file first, so every checkpoint
makes a new WIP commit (an unchanged repository would reuse its last one and cost less). One
untimed snapshot first writes the changed files' objects, so that neither side pays for it alone,
and the three are measured in turn, run by run, so the machine's load falls on them alike.

Baselines, each run on the same changes:
  ``git status``                 what a user waits for to see the changes at all;
  ``add -A`` + ``write-tree``    the least any snapshot must do: hash the changes into a tree (on a
                                 fresh copy of the index, so each run hashes them again).

    uv run python -m bench.checkpoint   [--files 1000] [--runs 9]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from agent.checkpoint import CheckpointService
from agent.settings import AgentSettings
from bench.common import percentile, summary
from claudecloud_agentapi import CheckpointRequest, RepoOutcome

COMMITTED = 3000
FILE_BYTES = 4096
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env or ENV, check=True, capture_output=True)


def content(name: str, version: int) -> bytes:
    line = f"{name} version {version}\n".encode()
    return (line * (FILE_BYTES // len(line) + 1))[:FILE_BYTES]


def make_repository(root: Path, changed: int) -> Path:
    """A repository in ``root`` with ``changed`` files changed (60 % edited, a third of those
    staged, 40 % new)."""
    repo = root / "project"
    (repo / "src").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for n in range(COMMITTED):
        (repo / "src" / f"f{n:05}.txt").write_bytes(content(f"f{n:05}", 0))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "init")
    edited, added = changed * 6 // 10, changed - changed * 6 // 10
    for n in range(edited):
        (repo / "src" / f"f{n:05}.txt").write_bytes(content(f"f{n:05}", 1))
    git(repo, "add", *(f"src/f{n:05}.txt" for n in range(edited // 3)))
    (repo / "new").mkdir()
    for n in range(added):
        (repo / "new" / f"n{n:05}.txt").write_bytes(content(f"n{n:05}", 0))
    return repo


def touch(repo: Path, run: int) -> None:
    """One more edit, so the next checkpoint has something new to commit."""
    (repo / "src" / f"f{COMMITTED - 1:05}.txt").write_bytes(content("last", run + 2))


async def measure(root: Path, repo: Path, runs: int) -> dict[str, list[float]]:
    settings = AgentSettings(secret=SecretStr("b" * 32), data_dir=root, checkpoint_keep=runs + 2)
    service = CheckpointService(root, settings, asyncio.Lock())
    timings: dict[str, list[float]] = {"status": [], "floor": [], "checkpoint": []}
    with tempfile.TemporaryDirectory() as folder:
        index = Path(folder) / "index"
        for run in range(runs + 1):  # the first is the untimed warm-up
            touch(repo, run)
            took = {
                "status": _timed(git, repo, "status", "--porcelain", "--untracked-files=all"),
                "floor": _floor(repo, index),
                "checkpoint": await _checkpoint(service),
            }
            for name, ms in took.items():
                if run > 0:
                    timings[name].append(ms)
    return timings


def _floor(repo: Path, index: Path) -> float:
    """``add -A`` and ``write-tree`` on a fresh copy of the repository's index."""
    shutil.copyfile(repo / ".git" / "index", index)
    env = {**ENV, "GIT_INDEX_FILE": str(index)}
    started = time.perf_counter()
    git(repo, "add", "-A", env=env)
    git(repo, "write-tree", env=env)
    return (time.perf_counter() - started) * 1000


async def _checkpoint(service: CheckpointService) -> float:
    started = time.perf_counter()
    taken = await service.take(CheckpointRequest(reason="bench", deadline_seconds=60))
    took = (time.perf_counter() - started) * 1000
    (saved,) = taken.repositories
    assert saved.outcome == RepoOutcome.SAVED, saved
    assert saved.note is None, saved.note  # a new commit each run, not the last one reused
    assert taken.complete, taken.errors
    return took


def _timed(step: Callable[..., object], *args: Any) -> float:
    started = time.perf_counter()
    step(*args)
    return (time.perf_counter() - started) * 1000


def report(name: str, timings: list[float], baseline: list[float] | None = None) -> None:
    ratio = ""
    if baseline is not None:
        times = percentile(timings, 50) / percentile(baseline, 50)
        ratio = f"   {times:.2f}x the floor (p50)"
    print(f"{name:<38} {summary(timings)}{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="changed files")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-checkpoint-") as folder:
        root = Path(folder)
        print(f"a repository of {COMMITTED} files, {args.files} of them changed; {args.runs} runs")
        repo = make_repository(root, args.files)
        timings = asyncio.run(measure(root, repo, args.runs))
        report("git status", timings["status"], timings["floor"])
        report("git add -A + write-tree (floor)", timings["floor"])
        report("checkpoint (POST /checkpoint's work)", timings["checkpoint"], timings["floor"])


if __name__ == "__main__":
    main()
