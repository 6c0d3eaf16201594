"""Where the generated files live. Kept apart so the mock can find the page without importing
the renderer (which itself reads the mock's files).

`layers-docs` writes to the current directory (or `--out`), never here: in an installed wheel
REPO_ROOT is site-packages. These paths are the kit's own checkout, for `layers-docs --committed`
and the mock's `/docs` (which falls back to rendering when they are absent)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
PAGE_NAME = "revoke-social-account"
# The two renderings of the reference page (docs_gen/render.py): `public`, what Layers could
# publish; `sandbox`, the same page with "Try it against the mock" and this kit's decisions
# (what the mock serves at /docs).
RENDERINGS = ("public", "sandbox")
COMMITTED_DIRS = {"public": DOCS_DIR / "reference", "sandbox": DOCS_DIR / "sandbox"}
# The guide whose "Reaching every documented status" block is generated from docs_gen/try_it.py.
STATUS_STEPS_PAGE = DOCS_DIR / "guides" / "any-language.md"


def in_checkout() -> bool:
    """True in the kit's source checkout (the site's config is there), False in an installed wheel."""
    return (REPO_ROOT / "mkdocs.yml").exists() and DOCS_DIR.is_dir()
