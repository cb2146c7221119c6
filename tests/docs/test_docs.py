"""The docs a newcomer reads: the README stays short, links resolve, the config reference is current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def test_the_configuration_reference_is_what_the_schema_generates(tmp_path: Path) -> None:
    fresh = tmp_path / "configuration.md"
    subprocess.run(
        [sys.executable, "scripts/config_reference.py", str(fresh)], cwd=REPO, check=True, capture_output=True
    )
    committed = (REPO / "docs" / "configuration.md").read_text()
    assert committed == fresh.read_text(), "docs/configuration.md is stale: run scripts/config-reference"


README = REPO / "README.md"
PAGES = [README, REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_the_readme_stays_short() -> None:
    lines = len(README.read_text().splitlines())
    assert lines < 200, f"README.md has {lines} lines; move detail into docs/ (by audience)"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_at_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for number, target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{page.relative_to(REPO)}:{number}: {target}: no file {path}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(
                f"{page.relative_to(REPO)}:{number}: {target}: no heading #{anchor} in {path or page.name}"
            )
    assert not broken, "\n".join(broken)


def links(page: Path) -> list[tuple[int, str]]:
    """(line number, target) of every relative link outside code blocks and code spans."""
    found = []
    fenced = False
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        prose = re.sub(r"`[^`]*`", "", line)
        for target in LINK.findall(prose):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
                found.append((number, target))
    return found


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the headings of ``page``: lower case, punctuation dropped, '-' for spaces."""
    seen: dict[str, int] = {}
    fenced = False
    for line in page.read_text().splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or not (heading := re.match(r"^#{1,6} (.+)$", line)):
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        if count:
            seen[f"{slug}-{count}"] = 1
    return set(seen)
