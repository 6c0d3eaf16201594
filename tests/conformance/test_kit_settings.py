"""The kit's settings object: one list, every setting in the generated table, and the order of
sources (the option, else its LAYERS_* variable, else the default). In-process: no target needed."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from conformance.cli import build_parser
from conformance.settings import EnvError, KitSettings, settings_table


def settings_from(argv: list[str], environ: dict[str, str] | None = None) -> KitSettings:
    return KitSettings.from_sources(build_parser().parse_args(argv), environ or {})


def test_the_table_lists_every_setting_with_its_option_and_variable():
    table = settings_table()
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert list(rows) == [f.name for f in fields(KitSettings)]
    for f in fields(KitSettings):
        row = rows[f.name]
        assert all(f"`{flag}`" in row for flag in f.metadata["flags"]), row
        assert f.metadata["env"] is None or f"`{f.metadata['env']}`" in row, row


def test_the_site_shows_the_table_generated_at_build_time(site_hooks):
    """docs/reference/settings.md (README's until issue 23) holds the marker that the site's build
    replaces with this very table."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")
    assert "<!-- generated: kit-settings -->" in page, "docs/reference/settings.md lost its kit-settings marker"
    assert settings_table() in site_hooks.expand(page)


def test_every_option_but_list_and_help_is_a_setting():
    options = {a.dest for a in build_parser()._actions} - {"help", "list"}  # argparse has no public list
    assert options == {f.name for f in fields(KitSettings)}


def test_defaults_without_options_or_variables():
    assert settings_from([]) == KitSettings()


def test_the_variable_fills_in_for_a_missing_option_and_the_option_wins():
    env = {"LAYERS_MAX_REQUESTS": "7", "LAYERS_STRICT": "yes", "LAYERS_HEADERS": "A: 1\n\nB: 2", "LAYERS_TIMEOUT": ""}
    from_env = settings_from([], env)
    assert (from_env.max_requests, from_env.strict, from_env.headers, from_env.timeout) == (
        7,
        True,
        ("A: 1", "B: 2"),
        15.0,
    )
    given = settings_from(["--max-requests", "9", "-H", "C: 3"], {**env, "LAYERS_MAX_REQUESTS": "abc"})
    assert given.max_requests == 9
    assert given.headers == ("A: 1", "B: 2", "C: 3")  # the variable's headers, then the options'


def test_a_bad_variable_names_itself():
    with pytest.raises(EnvError, match="environment variable LAYERS_CONCURRENCY: 1 is out of range"):
        settings_from([], {"LAYERS_CONCURRENCY": "1"})


def test_the_settings_object_is_frozen():
    with pytest.raises(FrozenInstanceError):
        KitSettings().strict = True
