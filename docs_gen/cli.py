"""`layers-docs`: write the reference page (Markdown and HTML), or check it is current.

Two renderings of one spec (`--rendering public|sandbox`, docs_gen/render.py). It writes to the
current directory (or `--out`), never into the installed package; `--committed` regenerates (or
with `--check`, checks) the files this kit's checkout commits: both renderings under
docs/reference/ and docs/sandbox/, and the guide's status steps.

Its settings are `DocsSettings`, built once from the command line (it reads no environment) and
passed to `run`."""

from __future__ import annotations

import argparse
import difflib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

# Importing the mock's files pulls in Connexion, whose import warns about Starlette's test
# client; that noise is not this command's output.
warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

from contract.spec import SPEC_PATH, load_contract  # noqa: E402
from docs_gen.paths import COMMITTED_DIRS, RENDERINGS, STATUS_STEPS_PAGE, in_checkout  # noqa: E402
from docs_gen.readme import readme_with_block  # noqa: E402
from docs_gen.render import render_all  # noqa: E402

REGENERATE_HINT = "run `layers-docs --committed` to regenerate"


def short_diff(on_disk: str, wanted: str, on_disk_name: str, wanted_name: str) -> str:
    """The first 60 lines of a unified diff (one line of context): enough to see what went stale."""
    diff = difflib.unified_diff(on_disk.splitlines(), wanted.splitlines(), on_disk_name, wanted_name, lineterm="", n=1)
    return "\n".join(list(diff)[:60])


def stale_files(generated: dict[str, str], out_dir: Path) -> dict[str, str]:
    """File name -> unified diff (or a reason) for every file that differs from what is on disk."""
    stale = {}
    for name, text in generated.items():
        path = out_dir / name
        if not path.exists():
            stale[name] = f"{path} is missing"
            continue
        on_disk = path.read_bytes().decode("utf-8")
        if on_disk != text:
            stale[name] = short_diff(on_disk, text, f"{name} (committed)", f"{name} (from the spec)")
    return stale


@dataclass(frozen=True)
class DocsSettings:
    spec: Path = SPEC_PATH
    out: Path = Path(".")
    rendering: str = "public"
    committed: bool = False
    check: bool = False
    readme: Path | None = None
    fidelity: Path | None = None
    screenshot: Path | None = None
    screenshot_height: int = 3300

    @classmethod
    def from_command_line(cls, argv: list[str] | None = None) -> DocsSettings:
        """The settings of `layers-docs ARGV`; a malformed option exits 2 (argparse)."""
        return cls(**vars(parser().parse_args(argv)))


def parser() -> argparse.ArgumentParser:
    d = DocsSettings()
    p = argparse.ArgumentParser(
        prog="layers-docs", description="Render the revoke endpoint's reference page from openapi.yaml."
    )
    p.add_argument("--spec", type=Path, default=d.spec, help="the OpenAPI file (default: the kit's openapi.yaml)")
    p.add_argument(
        "--out", type=Path, default=d.out, help="output directory (default: the current directory; created if missing)"
    )
    p.add_argument(
        "--rendering",
        choices=RENDERINGS,
        default=d.rendering,
        help="public: only what Layers documents, in Layers' voice (the page Layers could publish; default); "
        "sandbox: the same page with 'Try it against the mock' and this kit's contract decisions (the mock's /docs)",
    )
    p.add_argument(
        "--committed",
        action="store_true",
        help="in this kit's checkout: both renderings into docs/reference/ and docs/sandbox/, and the status steps "
        "of docs/guides/any-language.md (ignores --out and --rendering)",
    )
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files are stale")
    p.add_argument(
        "--readme",
        type=Path,
        default=d.readme,
        help="also write (or --check) the status steps block in this file (the block between its markers; "
        "with --committed: docs/guides/any-language.md)",
    )
    p.add_argument(
        "--fidelity",
        type=Path,
        metavar="PAGE",
        help="also check that every fact of the published page (a text file) appears in the Markdown",
    )
    p.add_argument(
        "--screenshot",
        type=Path,
        metavar="PNG",
        help="also save a PNG of the HTML page as headless Chromium shows it (top of the page; "
        "with --committed, the public rendering)",
    )
    p.add_argument(
        "--screenshot-height", type=int, default=d.screenshot_height, help="height of that PNG in pixels (width 1280)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run(DocsSettings.from_command_line(argv))


def _write_or_check(generated: dict[str, str], out: Path, check: bool) -> int:
    if check:
        stale = stale_files(generated, out)
        for name, why in stale.items():
            print(f"{out / name} is stale: {REGENERATE_HINT}\n{why}", file=sys.stderr)
        return 1 if stale else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in generated.items():
        (out / name).write_bytes(text.encode("utf-8"))
        print(f"wrote {out / name}")
    return 0


def _status_steps(contract, page: Path, check: bool) -> int:
    on_disk, wanted = readme_with_block(contract, page)
    if on_disk == wanted:
        return 0
    if check:
        diff = short_diff(on_disk, wanted, f"{page.name} (committed)", f"{page.name} (from docs_gen/try_it.py)")
        print(f"{page.name}'s status steps are stale: {REGENERATE_HINT}\n" + diff, file=sys.stderr)
        return 1
    page.write_bytes(wanted.encode("utf-8"))
    print(f"wrote {page} (status steps)")
    return 0


def run(settings: DocsSettings) -> int:
    contract = load_contract(settings.spec)
    if settings.committed:
        if not in_checkout():
            print(
                "layers-docs: --committed regenerates the files of the kit's source checkout, and this is an "
                "installed copy; use --out DIR (and --rendering) instead",
                file=sys.stderr,
            )
            return 2
        targets = [(r, COMMITTED_DIRS[r]) for r in RENDERINGS]
        steps_page: Path | None = settings.readme or STATUS_STEPS_PAGE
    else:
        targets = [(settings.rendering, settings.out)]
        steps_page = settings.readme
    status = 0
    rendered = {}
    for rendering, out in targets:
        rendered[rendering] = render_all(contract, rendering=rendering)
        status = max(status, _write_or_check(rendered[rendering], out, settings.check))
    if steps_page is not None:
        status = max(status, _status_steps(contract, steps_page, settings.check))
    if settings.fidelity:
        from docs_gen.fidelity import check_page, published_facts

        facts = published_facts(settings.fidelity.read_text(encoding="utf-8"))
        for rendering, generated in rendered.items():
            markdown = next(t for n, t in generated.items() if n.endswith(".md"))
            report = check_page(facts, markdown)
            print(f"{rendering}: {report.summary()}")
            status = status or (0 if report.ok else 1)
    if settings.screenshot:
        from docs_gen.browser import HeadlessChromium

        rendering, out = targets[0]
        html = out / next(n for n in rendered[rendering] if n.endswith(".html"))
        with HeadlessChromium(width=1280, height=settings.screenshot_height) as browser:
            shot = browser.open(html.resolve().as_uri(), full_page=False, clip_height=settings.screenshot_height)
        for error in shot.console_errors:
            print(f"console error: {error}", file=sys.stderr)
        settings.screenshot.parent.mkdir(parents=True, exist_ok=True)
        settings.screenshot.write_bytes(shot.screenshot)
        print(f"wrote {settings.screenshot} ({rendering} rendering)")
        status = status or (1 if shot.console_errors else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
