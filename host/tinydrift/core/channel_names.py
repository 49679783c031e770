"""Channel names in a profile blob: the names section (flag bit 6, docs/profile-format.md).

The section is host data: the C parser checks only its size (4..512 bytes in steps of 4) and the monitor never
reads it. Its content is every channel's name in UTF-8, each followed by one zero byte, then zero bytes up to the
next multiple of 4. This module packs, unpacks and checks it.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_NAME_BYTES = 31
MAX_SECTION_BYTES = 512  # TD_PROFILE_NAMES_MAX_SIZE


class NamesError(ValueError):
    """Channel names that a profile cannot carry (the message says which and why)."""


def check_channel_names(names: Sequence[str], n_channels: int) -> list[str]:
    """The names as a list, or NamesError naming the first bad one.

    One name per channel; each 1..31 bytes of UTF-8, printable (no control characters), no comma (the CLI and the
    CSV exports separate names with commas), no leading or trailing blank; no two alike.
    """
    names = list(names)
    if len(names) != n_channels:
        raise NamesError(f"{len(names)} channel names for {n_channels} channels")
    seen: set[str] = set()
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise NamesError(f"channel {i} name is not text: {name!r}")
        if not name:
            raise NamesError(f"channel {i} has an empty name")
        if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise NamesError(f"channel {i} name {name!r} is longer than {MAX_NAME_BYTES} bytes of UTF-8")
        if not name.isprintable() or "," in name or name != name.strip():
            raise NamesError(f"channel {i} name {name!r} has a control character, a comma or a leading or "
                             "trailing blank")
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise NamesError(f"channel {i} name {name!r} is not valid Unicode text") from None
        if name in seen:
            raise NamesError(f"duplicate channel name {name!r}")
        seen.add(name)
    return names


def pack_names(names: Sequence[str], n_channels: int) -> bytes:
    """The names section for these names (checked first)."""
    raw = b"".join(n.encode("utf-8") + b"\0" for n in check_channel_names(names, n_channels))
    raw += bytes(-len(raw) % 4)
    if len(raw) > MAX_SECTION_BYTES:  # unreachable with 16 channels of 31 bytes, kept for larger builds
        raise NamesError(f"channel names take {len(raw)} bytes, more than {MAX_SECTION_BYTES}")
    return raw


def unpack_names(section: bytes, n_channels: int) -> list[str]:
    """The names stored in a names section, or NamesError when the section is not one this module writes."""
    text = section.rstrip(b"\0")
    if not section or len(section) != (len(text) + 1 + 3) // 4 * 4:
        raise NamesError(f"names section of {len(section)} bytes is not {len(text)} bytes of names, one zero "
                         "byte and padding to a multiple of 4")
    try:
        names = text.decode("utf-8").split("\0")
    except UnicodeDecodeError as exc:
        raise NamesError(f"names section is not UTF-8 (byte {exc.start})") from None
    return check_channel_names(names, n_channels)
