"""Point every mention of the repository at a new URL (for a fork).

The repository URL appears where it must be spelled out before the package can be
imported: each notebook's first cell (Colab installs the package from it) and Colab badge,
the README's badges, ``pyproject.toml``'s ``[project.urls]``, and
``synapticnet.workspace.REPO_URL``. ``tests/test_workspace.py`` fails when they differ; this
script changes all of them at once::

    python scripts/set_repo_url.py https://github.com/you/synapticnet

Only ``https://github.com/OWNER/NAME`` URLs are accepted (Colab opens notebooks from GitHub).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
URL = re.compile(r"https://github\.com/([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9._-]+)$")


def current_url() -> str:
    """The URL in ``synapticnet/workspace.py`` (the one the others must match)."""
    match = re.search(r'^REPO_URL = "([^"]+)"', (ROOT / "synapticnet" / "workspace.py").read_text(), re.M)
    if match is None:
        raise SystemExit("synapticnet/workspace.py has no REPO_URL line")
    return match.group(1)


def files() -> list[Path]:
    """Every file that names the repository."""
    return [ROOT / "synapticnet" / "workspace.py", ROOT / "pyproject.toml", ROOT / "README.md",
            *sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]


def rewrite(text: str, old: str, new: str) -> str:
    """Replace the repository URL and the ``github/OWNER/NAME`` part of Colab links."""
    old_path, new_path = old.removeprefix("https://github.com/"), new.removeprefix("https://github.com/")
    text = text.replace(old, new)
    return text.replace(f"colab.research.google.com/github/{old_path}/", f"colab.research.google.com/github/{new_path}/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="https://github.com/OWNER/NAME")
    args = parser.parse_args(argv)
    new = args.url.rstrip("/").removesuffix(".git")
    if not URL.match(new):
        parser.error(f"{args.url!r} is not https://github.com/OWNER/NAME")
    old = current_url()
    changed = []
    for path in files():
        text = path.read_text(encoding="utf-8")
        updated = rewrite(text, old, new)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path.relative_to(ROOT))
    print(f"{old} -> {new}: {len(changed)} file(s) changed" + "".join(f"\n  {p}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
