"""The git history and the migration plan agree: ``Migration-Step:`` trailers and tags.

Every step whose ``migrations-plan/*/step.yaml`` says ``done`` has exactly one commit
carrying ``Migration-Step: <step id>``; no trailer names an unknown or planned step; and
``make tags``, run in a fresh clone, puts each step tag on its trailer commit, so the
walkthrough (``git checkout step-1-facade && make demo``) survives any clone.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from strangler.config import REPO_ROOT
from strangler.steps import load_plan, trailer_problems

LOG_FORMAT = "--format=%H%x09%(trailers:key=Migration-Step,valueonly,separator=%x2C)"


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout


def trailers(cwd: Path = REPO_ROOT) -> list[tuple[str, str]]:
    """(commit, step id) for every Migration-Step trailer reachable from HEAD."""
    found = []
    for line in git("log", LOG_FORMAT, cwd=cwd).splitlines():
        sha, _, steps = line.partition("\t")
        found += [(sha, step.strip()) for step in steps.split(",") if step.strip()]
    return found


def full_history(cwd: Path = REPO_ROOT) -> None:
    if not (cwd / ".git").exists():
        pytest.fail(f"{cwd} is not a git checkout: the Migration-Step trailers live in git")
    if git("rev-parse", "--is-shallow-repository", cwd=cwd).strip() == "true":
        pytest.fail(
            f"{cwd} is a shallow clone: the commits that completed the steps may be cut off. "
            "Clone with full history (git clone, or fetch-depth: 0) or run git fetch --unshallow"
        )


def test_done_steps_have_exactly_one_trailer_commit_and_trailers_name_known_steps() -> None:
    full_history()
    problems = trailer_problems(load_plan(), trailers())
    assert not problems, (
        "the Migration-Step trailers and migrations-plan/*/step.yaml disagree:\n  "
        + "\n  ".join(problems)
    )


def test_make_tags_puts_each_step_tag_on_its_trailer_commit(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    git("clone", "-q", str(REPO_ROOT), str(clone), cwd=tmp_path)
    full_history(clone)
    expected = trailers(clone)
    assert expected, "no commit carries a Migration-Step trailer"
    # The working tree's Makefile (the one under review), run in the fresh clone; twice,
    # because moving existing tags must work too.
    for _ in range(2):
        made = subprocess.run(
            ["make", "-s", "-C", str(clone), "-f", str(REPO_ROOT / "Makefile"), "tags"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert made.returncode == 0, made.stderr
    for sha, step in expected:
        assert f"{step} -> {sha[:12]}" in made.stdout
        assert git("rev-parse", f"{step}^{{commit}}", cwd=clone).strip() == sha, step
    tags = set(git("tag", "--list", "step-*", cwd=clone).split())
    assert tags == {step for _, step in expected}
