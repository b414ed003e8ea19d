"""Point every mention of the repository at a new URL (for a fork).

The repository URL appears where it must be spelled out before the package can be
imported: each notebook's first cell (Colab installs the package from it) and Colab badge,
the README's badges, ``pyproject.toml``'s ``[project.urls]``, and
``synapticnet.workspace.REPO_URL``. ``tests/test_workspace.py`` fails when they differ; this
script changes all of them at once::

    python scripts/set_repo_url.py https://github.com/you/synapticnet

Only ``https://github.com/OWNER/NAME`` URLs are accepted (Colab opens notebooks from GitHub),
spelled with the characters GitHub allows (owner: letters, digits, single inner hyphens;
name: letters, digits, ``.``, ``_``, ``-``, not ``.`` or ``..``); a trailing ``/`` or ``.git``
is dropped; blanks and control characters are refused, never written into a file.

All or nothing: every new file content is computed and every file checked for write
permission first; then each file is replaced atomically (temporary file + rename), and if
one replacement fails the files already replaced get their old content back. Each file
is searched for the URLs it names itself, so a run that was stopped half-way anyway
(killed) is completed by running the script again with the same URL.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"  # GitHub: no leading, trailing or double hyphen
NAME = r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}"  # GitHub: letters, digits, . _ -; not "." or ".."
URL = re.compile(rf"https://github\.com/({OWNER})/({NAME})")
# Where each file names the repository (the URLs found there are the ones to replace).
ANCHORS = (
    re.compile(r'REPO_URL = \\?"(https://github\.com/[^"\\\s]+)\\?"'),  # workspace.py; notebooks (JSON-escaped)
    re.compile(r'^Repository = "(https://github\.com/[^"\s]+)"', re.M),  # pyproject.toml
    re.compile(r"colab\.research\.google\.com/github/([^/\s\"')]+/[^/\s\"')]+)/blob/"),  # Colab badges
)


def check_url(url: str) -> str:
    """``url`` as it will be written (trailing ``/`` and ``.git`` dropped), or a one-line ``ValueError``."""
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"{url!r} contains blanks or control characters (a newline?)")
    new = url.removesuffix("/").removesuffix(".git")
    match = URL.fullmatch(new)
    if match is None or ".." in new:
        raise ValueError(f"{url!r} is not https://github.com/OWNER/NAME (OWNER: letters, digits and single "
                         "hyphens; NAME: letters, digits, '.', '_', '-'; no '..')")
    return new


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


def named_urls(text: str) -> set[str]:
    """The well-formed repository URLs ``text`` names at its anchors (REPO_URL, Repository, Colab badges)."""
    found = set()
    for anchor in ANCHORS:
        for match in anchor.finditer(text):
            url = match.group(1)
            url = url if url.startswith("https://") else f"https://github.com/{url}"
            if URL.fullmatch(url):
                found.add(url)
    return found


def rewrite(text: str, old: str, new: str) -> str:
    """Replace the repository URL and the ``github/OWNER/NAME`` part of Colab links.

    Only whole URLs: ``https://github.com/a/b`` is not replaced inside ``https://github.com/a/bc``
    (but is in ``…/a/b.git``, ``…/a/b#readme`` and ``…/a/b/blob/…``).
    """
    old_path, new_path = old.removeprefix("https://github.com/"), new.removeprefix("https://github.com/")
    end = r"(?![A-Za-z0-9_-]|\.(?!git\b)[A-Za-z0-9_-])"
    text = re.sub(re.escape(old) + end, lambda _: new, text)
    return text.replace(f"colab.research.google.com/github/{old_path}/", f"colab.research.google.com/github/{new_path}/")


def plan(new: str) -> tuple[set[str], dict[Path, tuple[str, str]]]:
    """The URLs to replace, and ``{file: (old text, new text)}`` for every file that changes.

    Nothing is written here. The URLs to replace are the one in ``workspace.py`` and every
    other one the files name at their anchors, so files left behind by an interrupted run
    are found even when ``workspace.py`` already has the new URL.
    """
    texts = {path: path.read_text(encoding="utf-8") for path in files()}
    olds = {current_url(), *(url for text in texts.values() for url in named_urls(text))} - {new}
    changes = {}
    for path, text in texts.items():
        updated = text
        for old in sorted(olds, key=len, reverse=True):
            updated = rewrite(updated, old, new)
        if updated != text:
            changes[path] = (text, updated)
    return olds, changes


def writable(path: Path) -> bool:
    """Can ``path`` be replaced? It must be writable itself (a read-only file is the owner's choice
    and is not replaced behind their back) and so must its folder (the rename happens there)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` via a temporary file and a rename, keeping its permissions."""
    mode = path.stat().st_mode & 0o7777
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def apply(changes: dict[Path, tuple[str, str]]) -> None:
    """Write every change; if one fails, put the files already written back and stop with one line.

    Raises:
        SystemExit: a write failed; the message says whether every file is as before.
    """
    done: list[Path] = []
    for path, (_, text) in changes.items():
        try:
            write_atomically(path, text)
        except OSError as error:
            unrestored = [str(p.relative_to(ROOT)) for p in done if not restore(p, changes[p][0])]
            state = (f"could not restore {', '.join(unrestored)}: run this script again to finish" if unrestored
                     else "nothing changed")
            raise SystemExit(f"error: could not write {path.relative_to(ROOT)} ({error.strerror or error}); "
                             f"{state}") from None
        done.append(path)


def restore(path: Path, text: str) -> bool:
    """Put ``text`` back into ``path``; ``False`` if that failed too."""
    try:
        write_atomically(path, text)
    except OSError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="https://github.com/OWNER/NAME")
    args = parser.parse_args(argv)
    try:
        new = check_url(args.url)
    except ValueError as error:
        parser.error(str(error))
    olds, changes = plan(new)
    locked = [str(p.relative_to(ROOT)) for p in changes if not writable(p)]
    if locked:
        raise SystemExit(f"error: nothing changed: cannot write {', '.join(locked)} (read-only?); "
                         "make them writable and run again")
    apply(changes)
    changed = [p.relative_to(ROOT) for p in changes]
    print(f"{', '.join(sorted(olds)) or new} -> {new}: {len(changed)} file(s) changed"
          + "".join(f"\n  {p}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
