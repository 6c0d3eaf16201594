"""README stays short (issue 23: about 200 lines at most), keeps the two commands exactly, has a
path per audience, and every link it has leads to a file of the repository (the site's pages are
files under docs/, so the same links work on GitHub and in the built site)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_is_short():
    assert len(README.splitlines()) <= 200


def test_the_two_commands_are_there_as_they_were():
    assert "```bash\nbash scripts/setup.sh && .venv/bin/layers-mock\n```" in README
    assert "```bash\nbash scripts/test.sh\n```" in README


def test_one_section_per_audience_each_ending_in_a_link_into_the_site():
    sections = re.split(r"^## ", README, flags=re.M)[1:]
    audiences = [s for s in sections if s.startswith("You ")]
    assert len(audiences) == 4, [s.splitlines()[0] for s in sections]
    for section in audiences:
        links = re.findall(r"\]\((docs/[^)#]+\.md)", section)
        assert links, section.splitlines()[0]


def test_every_relative_link_resolves():
    for target in re.findall(r"\]\(([^)]+)\)", README):
        if "://" in target:
            continue
        path = target.split("#", 1)[0]
        assert (REPO / path).exists(), target
