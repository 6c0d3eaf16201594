"""The committed renderings (docs/reference/: public, docs/sandbox/: sandbox) are exactly what
`layers-docs --committed` renders from openapi.yaml today; `layers-docs` writes where it is told
(the current directory by default), never into the package."""

from __future__ import annotations

import copy
import os

import pytest
import yaml

from contract import CONTRACT
from docs_gen.cli import REGENERATE_HINT, main, stale_files
from docs_gen.paths import COMMITTED_DIRS, RENDERINGS
from docs_gen.render import render_all


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_committed_docs_match_the_spec(rendering):
    stale = stale_files(render_all(CONTRACT, rendering=rendering), COMMITTED_DIRS[rendering])
    assert not stale, f"docs/ is stale: {REGENERATE_HINT}\n" + "\n".join(stale.values())


def test_committed_check_passes_on_this_checkout():
    assert main(["--committed", "--check"]) == 0


def test_check_fails_when_a_when_text_changes_without_regenerating(tmp_path, capsys):
    """Edit one "when" in a copy of the spec: `layers-docs --check` against docs/ exits 1."""
    raw = copy.deepcopy(CONTRACT.raw)
    not_found = raw["components"]["responses"]["NotFound"]
    not_found["description"] = "Account not found (edited for this test)."
    spec = tmp_path / "openapi.yaml"
    spec.write_text(yaml.safe_dump(raw, sort_keys=False))

    assert main(["--spec", str(spec), "--check", "--out", str(COMMITTED_DIRS["public"])]) == 1
    err = capsys.readouterr().err
    assert REGENERATE_HINT in err
    assert "+| 404 | `NOT_FOUND` | Account not found (edited for this test). |" in err


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_regenerating_writes_files_the_check_then_accepts(tmp_path, rendering):
    args = ["--out", str(tmp_path), "--rendering", rendering]
    assert main(args) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(render_all(CONTRACT, rendering=rendering))
    assert main([*args, "--check"]) == 0
    (tmp_path / next(iter(render_all(CONTRACT, rendering=rendering)))).write_text("hand-edited\n")
    assert main([*args, "--check"]) == 1


def test_the_default_output_is_the_current_directory(tmp_path, monkeypatch):
    """Run from anywhere (a pip install included), it writes the public rendering there, and
    nothing beside the package's own files (docs_gen/paths.py used to point into it)."""
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    assert sorted(os.listdir(tmp_path)) == sorted(render_all(CONTRACT, rendering="public"))
    assert "Try it against the mock" not in (tmp_path / "revoke-social-account.md").read_text(encoding="utf-8")


def test_the_renderings_differ_only_as_promised():
    public = render_all(CONTRACT, rendering="public")["revoke-social-account.md"]
    sandbox = render_all(CONTRACT, rendering="sandbox")["revoke-social-account.md"]
    for mock_only in ("Try it against the mock", "## Contract decisions", "/_mock", "127.0.0.1", "layers-mock"):
        assert mock_only not in public, mock_only
        assert mock_only in sandbox, mock_only
    # The public page's additions beyond Layers' text are set apart as a marked note: in place it
    # says what the page says (x-published-description), and fields marked x-published: false
    # are listed only there.
    reference, notes = public.split("\n## Notes\n", 1)
    assert "not part of Layers' published reference" in notes
    assert "| `socialAccountId` | string | required | Account to revoke. |" in reference
    assert "malformed `Idempotency-Key`" not in reference  # the 409 row names the header, as the page does
    assert "details.issues" not in reference and "lower-case" not in reference
    assert "Idempotency-Key" in notes and "details.issues" in notes and "lower-case hex" in notes
    assert "details.issues" in sandbox.split("## Try it against the mock", 1)[0]
    public_html = render_all(CONTRACT, rendering="public")["revoke-social-account.html"]
    assert "mock" not in public_html.lower()
