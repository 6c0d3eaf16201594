"""Where the generated files live. Kept apart so the mock can find the page without importing
the renderer (which itself reads the mock's files)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS_DIR = REPO_ROOT / "docs"
PAGE_NAME = "revoke-social-account"
