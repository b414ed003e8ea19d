"""Name the published repository and the version Colab installs, in every file that spells it out.

A notebook opened on Colab has to install the package before it can import it, so its first
cell spells out where from: ``REPO_URL`` and ``REPO_REF`` (a tag or a full commit, never a
branch that moves). Until this script has been run they are empty, and that cell stops with
one line instead of installing from a guessed address (an account this project does not
control could serve anything there). This script writes the pair, from one command, into

* ``synapticnet/workspace.py`` (``REPO_URL``, ``REPO_REF``: the values the others must equal),
* the first code cell and the Colab badge of every notebook,
* the README's Colab badge, and ``[project.urls]`` in ``pyproject.toml``::

    python scripts/set_repo_url.py https://github.com/OWNER/NAME --ref v1.0

The badges open the notebooks *at that ref*, so the notebook Colab shows and the package it
installs are the same version: create the tag on the commit that records this change
(``git commit -am ... && git tag v1.0``) and push both. Before that, an unset badge points to
the README's "Opening in Colab" section. ``tests/test_workspace.py`` fails when the files differ.

Only ``https://github.com/OWNER/NAME`` URLs are accepted (Colab opens notebooks from GitHub),
spelled with the characters GitHub allows (owner: letters, digits, single inner hyphens;
name: letters, digits, ``.``, ``_``, ``-``, not ``.`` or ``..``); a trailing ``/`` or ``.git``
is dropped. The ref is a tag name (letters, digits, ``.``, ``_``, ``-``) or a full 40-character
commit hash; branch names that move (``main``, ``master``, ``HEAD``…) and shortened hashes are
refused. Blanks and control characters are refused, never written into a file.

All or nothing: every file's new content is computed first (a file whose expected lines are
missing stops the script) and every file checked for write permission; then each file is
replaced atomically (temporary file + rename), and if one replacement fails the files already
replaced get their old content back. Every value is written whole (not searched and replaced),
so a run that was stopped half-way anyway (killed) is completed by running the script again.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}"  # GitHub: no leading, trailing or double hyphen
NAME = r"(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}"  # GitHub: letters, digits, . _ -; not "." or ".."
URL = re.compile(rf"https://github\.com/({OWNER})/({NAME})")
REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MOVING = ("HEAD", "main", "master", "develop", "dev", "trunk", "gh-pages")  # branches: they move, nothing is pinned
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
UNSET_SECTION = "opening-in-colab"  # the README section an unset badge points to


def check_url(url: str) -> str:
    """``url`` as it will be written (trailing ``/`` and ``.git`` dropped), or a one-line ``ValueError``."""
    _printable(url, "URL")
    new = url.removesuffix("/").removesuffix(".git")
    if URL.fullmatch(new) is None or ".." in new:
        raise ValueError(f"{url!r} is not https://github.com/OWNER/NAME (OWNER: letters, digits and single "
                         "hyphens; NAME: letters, digits, '.', '_', '-'; no '..')")
    return new


def check_ref(ref: str) -> str:
    """``ref`` if it pins one version (a tag name or a full commit hash), else a one-line ``ValueError``."""
    _printable(ref, "ref")
    if REF.fullmatch(ref) is None or ".." in ref or ref.endswith((".", ".lock")):
        raise ValueError(f"ref {ref!r} is not a tag name (letters, digits, '.', '_', '-') or a 40-character commit hash")
    if ref in MOVING:
        raise ValueError(f"ref {ref!r} is a branch: it moves, so nothing would be pinned; give a tag (e.g. v1.0) or a "
                         "full commit hash")
    if re.fullmatch(r"[0-9a-f]{7,39}", ref):
        raise ValueError(f"ref {ref!r} looks like a shortened commit hash: give all 40 characters (git rev-parse {ref})")
    return ref


def _printable(text: str, what: str) -> None:
    if not text or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ValueError(f"the {what} {text!r} is empty or contains blanks or control characters (a newline?)")


def colab_link(url: str, ref: str, notebook: str, unset: str) -> str:
    """Where a badge for ``notebooks/<notebook>`` points: Colab at ``ref`` of ``url``, or ``unset`` while none is set."""
    if not (url and ref):
        return unset
    return f"https://colab.research.google.com/github/{url.removeprefix('https://github.com/')}/blob/{ref}/notebooks/{notebook}"


def current() -> tuple[str, str]:
    """``(REPO_URL, REPO_REF)`` of ``synapticnet/workspace.py`` (the values the other files must match)."""
    text = (ROOT / "synapticnet" / "workspace.py").read_text(encoding="utf-8")
    found = [re.search(rf'^{key} = "([^"\n]*)"', text, re.M) for key in ("REPO_URL", "REPO_REF")]
    if None in found:
        raise SystemExit("error: synapticnet/workspace.py has no REPO_URL / REPO_REF line")
    return found[0].group(1), found[1].group(1)


def notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def files() -> list[Path]:
    """Every file that names the repository."""
    return [ROOT / "synapticnet" / "workspace.py", ROOT / "pyproject.toml", ROOT / "README.md", *notebooks()]


# --- what each file holds, as (pattern, new text) pairs: every pattern must match at least once -------------------
Edit = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]


def edits(path: Path, url: str, ref: str) -> list[Edit]:
    """The places of ``path`` that hold the URL or the ref, each with the text it gets for ``url``/``ref``."""
    if path.name == "workspace.py":
        return [(re.compile(r'^(REPO_URL = ")[^"\n]*(")', re.M), lambda m: m[1] + url + m[2]),
                (re.compile(r'^(REPO_REF = ")[^"\n]*(")', re.M), lambda m: m[1] + ref + m[2])]
    if path.name == "pyproject.toml":
        block = (f'[project.urls]\nRepository = "{url}"\nDocumentation = "{url}#readme"\n' if url and ref else
                 "[project.urls]  # Repository, Documentation: written by scripts/set_repo_url.py\n")
        return [(re.compile(r'^\[project\.urls\][^\n]*\n(?:(?:Repository|Documentation) = "[^"\n]*"\n)*', re.M),
                 lambda m: block)]
    if path.name == "README.md":
        first = notebooks()[0].name if notebooks() else "01.ipynb"
        badge = re.escape(f"[![Open In Colab]({COLAB_BADGE_IMAGE})](")
        link = colab_link(url, ref, first, f"#{UNSET_SECTION}")
        return [(re.compile(rf"({badge})[^)\s]*(\))"), lambda m: m[1] + link + m[2])]
    # a notebook, edited as its JSON text (quotes inside cells are written \")
    link = colab_link(url, ref, path.name, f"../README.md#{UNSET_SECTION}")
    image = re.escape(f'\\" target=\\"_parent\\"><img src=\\"{COLAB_BADGE_IMAGE}\\"')
    return [(re.compile(r'(REPO_URL = \\")[^"\\]*(\\")'), lambda m: m[1] + url + m[2]),
            (re.compile(r'(REPO_REF = \\")[^"\\]*(\\")'), lambda m: m[1] + ref + m[2]),
            (re.compile(rf'(<a href=\\")[^"\\\s]*({image})'), lambda m: m[1] + link + m[2])]


def updated(path: Path, text: str, url: str, ref: str) -> str:
    """``text`` of ``path`` with the URL and the ref written in; a one-line ``SystemExit`` if a place is missing."""
    for pattern, replace in edits(path, url, ref):
        text, count = pattern.subn(replace, text)
        if count == 0:
            raise SystemExit(f"error: nothing changed: {path.relative_to(ROOT)} has no line matching "
                             f"{pattern.pattern!r} (edited by hand?)")
    return text


def plan(url: str, ref: str) -> dict[Path, tuple[str, str]]:
    """``{file: (old text, new text)}`` for every file that changes. Nothing is written here."""
    changes = {}
    for path in files():
        text = path.read_text(encoding="utf-8")
        new = updated(path, text, url, ref)
        if new != text:
            changes[path] = (text, new)
    return changes


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
    parser.add_argument("--ref", required=True, help="the tag (e.g. v1.0) or full commit hash Colab installs")
    args = parser.parse_args(argv)
    try:
        url, ref = check_url(args.url), check_ref(args.ref)
    except ValueError as error:
        parser.error(str(error))
    before = current()
    changes = plan(url, ref)
    locked = [str(p.relative_to(ROOT)) for p in changes if not writable(p)]
    if locked:
        raise SystemExit(f"error: nothing changed: cannot write {', '.join(locked)} (read-only?); "
                         "make them writable and run again")
    apply(changes)
    changed = [p.relative_to(ROOT) for p in changes]
    was = "@".join(before) if all(before) else "(unset)"
    print(f"{was} -> {url}@{ref}: {len(changed)} file(s) changed" + "".join(f"\n  {p}" for p in changed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
