"""The committed docs/ are exactly what `layers-docs` renders from openapi.yaml today."""

from __future__ import annotations

import copy

import yaml

from contract import CONTRACT
from docs_gen.cli import REGENERATE_HINT, main, stale_files
from docs_gen.paths import DOCS_DIR
from docs_gen.render import render_all


def test_committed_docs_match_the_spec():
    stale = stale_files(render_all(CONTRACT), DOCS_DIR)
    assert not stale, f"docs/ is stale: {REGENERATE_HINT}\n" + "\n".join(stale.values())


def test_check_fails_when_a_when_text_changes_without_regenerating(tmp_path, capsys):
    """Edit one "when" in a copy of the spec: `layers-docs --check` against docs/ exits 1."""
    raw = copy.deepcopy(CONTRACT.raw)
    not_found = raw["components"]["responses"]["NotFound"]
    not_found["description"] = "Account not found (edited for this test)."
    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))

    assert main(["--spec", str(spec), "--check", "--out", str(DOCS_DIR)]) == 1
    err = capsys.readouterr().err
    assert REGENERATE_HINT in err
    assert "+| 404 | `NOT_FOUND` | Account not found (edited for this test). |" in err


def test_regenerating_writes_files_the_check_then_accepts(tmp_path, capsys):
    assert main(["--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(render_all(CONTRACT))
    assert main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / next(iter(render_all(CONTRACT)))).write_text("hand-edited\n")
    assert main(["--out", str(tmp_path), "--check"]) == 1
