"""``SHA256SUMS``: the digest of every file a run wrote, so that an edit made after the run shows.

The format is the one of GNU ``sha256sum`` (``<hex>  <path>``, paths relative to the run folder), so that
``sha256sum -c SHA256SUMS`` checks a run without this tool; ``dui-conformance report verify`` does the same and says
which files changed, went missing or were added.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST = "SHA256SUMS"
_CHUNK = 1024 * 1024


@dataclass
class Verification:
    """What differs between a run folder and its manifest."""

    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """Whether every file is the one the run wrote, and no other was added."""
        return not (self.changed or self.missing or self.added)


def write_manifest(run_dir: Path) -> str:
    """Write ``SHA256SUMS`` for ``run_dir``; the manifest's own sha256, to be kept elsewhere (a CI log)."""
    lines = [f"{digest(run_dir / name)}  {name}\n" for name in _files(run_dir)]
    text = "".join(lines)
    (run_dir / MANIFEST).write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def verify_manifest(run_dir: Path) -> Verification:
    """Re-hash ``run_dir`` against its ``SHA256SUMS``; a missing or unreadable manifest raises ValueError."""
    manifest = run_dir / MANIFEST
    if not manifest.is_file():
        raise ValueError(f"{manifest} absent : ce dossier n'a pas de manifeste d'empreintes")
    recorded: dict[str, str] = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), start=1):
        hexdigest, sep, name = line.partition("  ")
        if not sep or len(hexdigest) != 64:
            raise ValueError(f"{manifest}:{number} : ligne attendue « <sha256>  <chemin> »")
        recorded[name] = hexdigest
    present = set(_files(run_dir))
    result = Verification(missing=sorted(set(recorded) - present), added=sorted(present - set(recorded)))
    result.changed = sorted(name for name in set(recorded) & present if digest(run_dir / name) != recorded[name])
    return result


def digest(path: Path) -> str:
    """The sha256 of one file, read in chunks (evidence files may be large)."""
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _files(run_dir: Path) -> list[str]:
    """Every regular file under ``run_dir``, without symlinks and without sub-folders that have their own manifest."""
    found: list[str] = []
    pending = [run_dir]
    while pending:
        folder = pending.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_symlink():
                continue  # never followed: a link could point anywhere on the machine
            if entry.is_dir():
                if not (entry / MANIFEST).is_file():
                    pending.append(entry)
            elif entry.is_file() and entry != run_dir / MANIFEST:
                found.append(entry.relative_to(run_dir).as_posix())
    return sorted(found)
