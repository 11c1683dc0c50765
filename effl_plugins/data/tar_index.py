"""The regular-file members of an uncompressed tar, read from their 512-byte headers alone (one header
per member, seeking over the data; faster than ``tarfile``, see the README's streaming section).

Handled: ustar names with their prefix, pax extended headers (``path``, ``size``), GNU long names; a
header whose checksum is wrong (a compressed or foreign file) and a member that runs past the end of
the file are :class:`TarFormatError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

__all__ = ["TarFormatError", "TarMember", "tar_members"]

_BLOCK = 512
_FILE_TYPES = (b"0", b"\0", b"7")


class TarFormatError(ValueError):
    """The file is not an uncompressed tar, or ends inside a member."""


class TarMember(NamedTuple):
    """A regular file in the tar: its name, where its data starts and how many bytes it holds."""

    name: str
    offset: int
    size: int


def tar_members(handle: BinaryIO) -> Iterator[TarMember]:
    """Every regular-file member of the tar open in ``handle`` (binary, seekable), in tar order."""
    end = handle.seek(0, os.SEEK_END)
    offset, pending = 0, {}
    while offset + _BLOCK <= end:
        handle.seek(offset)
        header = handle.read(_BLOCK)
        if header.count(0) == _BLOCK:
            return
        _check_sum(header, offset)
        kind, size = header[156:157], _number(header[124:136], offset)
        size = int(pending.get("size", size))
        data = offset + _BLOCK
        if data + size > end:
            raise TarFormatError(f"a member at byte {offset} runs past the end of the file ({end} bytes)")
        if kind in (b"x", b"g", b"L"):
            handle.seek(data)
            body = handle.read(size)
            if kind == b"x":
                pending = _pax(body)
            elif kind == b"L":
                pending = {"path": body.rstrip(b"\0").decode("utf-8", "replace")}
        else:
            if kind in _FILE_TYPES:
                yield TarMember(pending.get("path") or _name(header), data, size)
            pending = {}
        offset = data + -(-size // _BLOCK) * _BLOCK
    handle.seek(min(offset, end))
    if offset < end and handle.read(_BLOCK).count(0) != end - offset:
        raise TarFormatError(f"the file ends inside a header at byte {offset} ({end} bytes)")


def _check_sum(header: bytes, offset: int) -> None:
    try:
        stored = int(header[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        stored = -1
    if stored != sum(header[:148]) + 8 * 32 + sum(header[156:]):
        raise TarFormatError(f"no tar header at byte {offset} (a compressed or damaged file)")


def _number(field: bytes, offset: int) -> int:
    if field[0] & 0x80:  # GNU base-256
        return int.from_bytes(field[1:], "big")
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise TarFormatError(f"a member at byte {offset} has an unreadable size field") from None


def _name(header: bytes) -> str:
    name = header[:100].split(b"\0", 1)[0]
    prefix = header[345:500].split(b"\0", 1)[0] if header[257:262] == b"ustar" else b""
    return (prefix + b"/" + name if prefix else name).decode("utf-8", "replace")


def _pax(body: bytes) -> dict[str, str]:
    """The ``len key=value\\n`` records of a pax header."""
    records, at = {}, 0
    while at < len(body):
        space = body.find(b" ", at)
        if space < 0:
            break
        length = int(body[at:space] or b"0")
        if length <= 0:
            break
        key, _, value = body[space + 1 : at + length - 1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        at += length
    return records
