"""`layers-docs`: write the reference page (Markdown and HTML) under docs/, or check it is current.

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
from docs_gen.paths import DOCS_DIR  # noqa: E402
from docs_gen.readme import README, readme_with_block  # noqa: E402
from docs_gen.render import render_all  # noqa: E402

REGENERATE_HINT = "run `layers-docs` to regenerate"


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
    out: Path = DOCS_DIR
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
    p.add_argument("--out", type=Path, default=d.out, help="output directory (default: docs/)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files under --out are stale")
    p.add_argument(
        "--readme",
        type=Path,
        default=d.readme,
        help="also write (or --check) README's status steps block in this file "
        "(default: the kit's README.md when --out is the default docs/)",
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
        help="also save a PNG of the HTML page as headless Chromium shows it (top of the page)",
    )
    p.add_argument(
        "--screenshot-height", type=int, default=d.screenshot_height, help="height of that PNG in pixels (width 1280)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    return run(DocsSettings.from_command_line(argv))


def run(settings: DocsSettings) -> int:

    generated = render_all(load_contract(settings.spec))
    status = 0
    if settings.check:
        stale = stale_files(generated, settings.out)
        for name, why in stale.items():
            print(f"{name} is stale: {REGENERATE_HINT}\n{why}", file=sys.stderr)
        status = 1 if stale else 0
    else:
        settings.out.mkdir(parents=True, exist_ok=True)
        for name, text in generated.items():
            (settings.out / name).write_bytes(text.encode("utf-8"))
            print(f"wrote {settings.out / name}")
    readme = settings.readme or (README if settings.out.resolve() == DOCS_DIR.resolve() and README.exists() else None)
    if readme is not None:
        on_disk, wanted = readme_with_block(load_contract(settings.spec), readme)
        if on_disk != wanted:
            if settings.check:
                diff = short_diff(
                    on_disk, wanted, f"{readme.name} (committed)", f"{readme.name} (from docs_gen/try_it.py)"
                )
                print(
                    f"{readme.name}'s status steps are stale: {REGENERATE_HINT}\n" + diff,
                    file=sys.stderr,
                )
                status = 1
            else:
                readme.write_bytes(wanted.encode("utf-8"))
                print(f"wrote {readme} (status steps)")
    if settings.fidelity:
        from docs_gen.fidelity import check_page, published_facts

        markdown = next(t for n, t in generated.items() if n.endswith(".md"))
        report = check_page(published_facts(settings.fidelity.read_text(encoding="utf-8")), markdown)
        print(report.summary())
        status = status or (0 if report.ok else 1)
    if settings.screenshot:
        from docs_gen.browser import HeadlessChromium

        html = settings.out / next(n for n in generated if n.endswith(".html"))
        with HeadlessChromium(width=1280, height=settings.screenshot_height) as browser:
            shot = browser.open(html.resolve().as_uri(), full_page=False, clip_height=settings.screenshot_height)
        for error in shot.console_errors:
            print(f"console error: {error}", file=sys.stderr)
        settings.screenshot.write_bytes(shot.screenshot)
        print(f"wrote {settings.screenshot}")
        status = status or (1 if shot.console_errors else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
