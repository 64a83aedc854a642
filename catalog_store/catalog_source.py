"""Where a catalog comes from: a folder, a ``.tar.gz`` or a ``.zip`` holding the two files.

Archives are read member by member as streams (nothing is extracted to disk, so a hostile
path inside an archive cannot write anywhere). Lines are handed on as bytes one at a time, so an
invalid byte is reported with its line number instead of failing the whole file.
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

FACTORIES_FILE = "factories.jsonl"
OFFERS_FILE = "offers.jsonl"
# A line longer than this is refused unread: no valid offer comes near it, and reading an
# endless line would exhaust memory.
MAX_LINE_BYTES = 64 * 1024 * 1024


class CatalogSourceError(Exception):
    """The catalog as a whole cannot be read (missing file, unknown archive type)."""


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    stream: IO[bytes]


@dataclass(frozen=True)
class RawLine:
    number: int
    data: bytes | None  # None when the line could not be read; see ``problem``
    problem: str | None = None
    nbytes: int = 0


def _archive_kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "dir"
    if name.endswith((".tar.gz", ".tgz")):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    if not path.exists():
        raise CatalogSourceError(f"{path}: no such file or folder")
    raise CatalogSourceError(f"{path}: a catalog is a folder, a .tar.gz or a .zip")


def _pick(names: list[str], wanted: str) -> str | None:
    """The member ``wanted`` at the top or inside one top folder (``catalog/offers.jsonl``)."""
    hits = [
        n for n in names if PurePosixPath(n).name == wanted and len(PurePosixPath(n).parts) <= 2
    ]
    return min(hits, key=lambda n: len(PurePosixPath(n).parts)) if hits else None


@contextmanager
def open_catalog(path: Path) -> Iterator[dict[str, Member]]:
    """Yield the two members by file name; raises CatalogSourceError when one is missing."""
    kind = _archive_kind(path)
    if kind == "dir":
        members: dict[str, Member] = {}
        opened: list[IO[bytes]] = []
        try:
            for wanted in (FACTORIES_FILE, OFFERS_FILE):
                file = path / wanted
                if not file.is_file():
                    raise CatalogSourceError(f"{path}: the catalog has no {wanted}")
                stream = file.open("rb")
                opened.append(stream)
                members[wanted] = Member(wanted, file.stat().st_size, stream)
            yield members
        finally:
            for stream in opened:
                stream.close()
    elif kind == "tar":
        try:
            archive = tarfile.open(path, "r:*")  # noqa: SIM115 - closed by the with below
        except (tarfile.TarError, OSError) as exc:
            raise CatalogSourceError(f"{path}: not a readable tar archive ({exc})") from exc
        with archive:
            infos = {i.name: i for i in archive.getmembers() if i.isfile()}
            members = {}
            for wanted in (FACTORIES_FILE, OFFERS_FILE):
                name = _pick(list(infos), wanted)
                stream = archive.extractfile(infos[name]) if name else None
                if name is None or stream is None:
                    raise CatalogSourceError(f"{path}: the archive has no {wanted}")
                members[wanted] = Member(wanted, infos[name].size, stream)
            yield members
    else:
        try:
            archive_zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise CatalogSourceError(f"{path}: not a readable zip archive ({exc})") from exc
        with archive_zip:
            infos_zip = {i.filename: i for i in archive_zip.infolist() if not i.is_dir()}
            members = {}
            for wanted in (FACTORIES_FILE, OFFERS_FILE):
                name = _pick(list(infos_zip), wanted)
                if name is None:
                    raise CatalogSourceError(f"{path}: the archive has no {wanted}")
                members[wanted] = Member(
                    wanted, infos_zip[name].file_size, archive_zip.open(infos_zip[name])
                )
            yield members


def read_lines(stream: IO[bytes]) -> Iterator[RawLine]:
    """Non-blank lines as bytes with their 1-based numbers (decoding is the caller's)."""
    number = 0
    while True:
        chunk = stream.readline(MAX_LINE_BYTES + 1)
        if not chunk:
            return
        number += 1
        nbytes = len(chunk)
        if nbytes > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
            # skip the rest of the oversized line
            while chunk and not chunk.endswith(b"\n"):
                chunk = stream.readline(MAX_LINE_BYTES)
                nbytes += len(chunk)
            yield RawLine(
                number, None, f"line is {nbytes:,} bytes; at most {MAX_LINE_BYTES:,}", nbytes
            )
            continue
        if number == 1 and chunk.startswith(b"\xef\xbb\xbf"):
            chunk = chunk[3:]  # a byte-order mark some editors write
        if chunk.strip():  # blank lines are allowed and skipped
            yield RawLine(number, chunk, None, nbytes)
