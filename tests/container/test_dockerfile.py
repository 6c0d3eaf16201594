"""One container file (issue 23): ./Dockerfile, which `docker build -t layers-mock .` reads
without `-f`, is the file CI builds with podman; no Containerfile beside it to drift."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_dockerfile_is_the_only_container_file():
    assert (REPO / "Dockerfile").is_file()
    assert not (REPO / "Containerfile").exists(), "podman reads the Dockerfile: a Containerfile would drift from it"
    ignore = REPO / ".dockerignore"
    assert ignore.is_file() and not ignore.is_symlink()
    assert not (REPO / ".containerignore").exists()


def test_docker_hub_base_by_default_and_a_build_argument_for_ci():
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG BASE=python:3\.11-slim$", text, re.M)
    assert text.count("FROM ${BASE}") == 2
    assert 'ENTRYPOINT ["layers-mock", "--host", "0.0.0.0"]' in text
    assert "EXPOSE 4010" in text


def test_readme_and_the_guide_show_the_commands_verbatim():
    for page in (REPO / "README.md", REPO / "docs" / "guides" / "container.md"):
        text = page.read_text(encoding="utf-8")
        assert "docker build -t layers-mock .\n" in text, page
        assert "docker run -p 4010:4010 layers-mock\n" in text, page
        assert "Containerfile" not in text, page
