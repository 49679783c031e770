"""Count phrases for what the CLI and reports print: "1 record", "2 records", never "1 records" or "record(s)"."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """noun for a count of n: the singular for exactly 1, else ``many``, by default the regular plural of the
    phrase's last word (retry -> retries, match -> matches, record -> records)."""
    if n == 1:
        return noun
    if many is not None:
        return many
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "i", "o", "u", ""):
        return noun[:-1] + "ies"
    return noun + ("es" if noun.endswith(("s", "x", "ch", "sh")) else "s")


def count(n: int, noun: str, many: str | None = None, *, thousands: bool = False) -> str:
    """'1 record', '3 records' ('1,200 records' with thousands); many: the plural where it is not regular."""
    return f"{n:,} {plural(n, noun, many)}" if thousands else f"{n} {plural(n, noun, many)}"
