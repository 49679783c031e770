"""What every command group of the ``tinydrift`` command shares: program name, exit codes,
argument types, parser factory, output (atomic file or stdout), tables and value formats."""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from tinydrift.core.errors import InputError
from tinydrift.core.files import write_atomic
from tinydrift.core.fixed import Q8, THRESHOLD_DISABLED
from tinydrift.core.triggers import HEALTH_MASKS, TRIGGER_NAMES, mask_channels, trigger_names

PROG = "tinydrift"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_ALARM = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 130, 141

_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "_Bool _Complex _Imaginary".split()
)
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# ------------------------------------------------------------------------------------------ argument types


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def float_in(accept: Callable[[float], bool], rule: str) -> Callable[[str], float]:
    """An argparse type: a number for which accept() holds, else the error "must be <rule>, got TEXT"."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"must be {rule}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


fraction = float_in(lambda v: 0.0 < v < 1.0, "between 0 and 1 (exclusive)")
variance = float_in(lambda v: 0.0 < v <= 1.0, "in (0, 1]")


def rails_arg(text: str) -> tuple[int, int]:
    """An argparse type: LOW:HIGH int16 saturation rails."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        low, high = int(parts[0]), int(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW:HIGH integers, e.g. -2048:2047, got {text!r}") from None
    if not -32768 <= low < high <= 32767:
        raise argparse.ArgumentTypeError(f"need -32768 <= LOW < HIGH <= 32767, got {text}")
    return low, high


def health_limit_arg(text: str) -> int | dict[str, int]:
    """An argparse type: N (every channel) or NAME=N,NAME=N (those channels); the builder checks 0..window."""
    try:
        if "=" not in text:
            return int(text)
        limits: dict[str, int] = {}
        for part in text.split(","):
            name, _, count = part.partition("=")
            if not name or name in limits:
                raise ValueError
            limits[name] = int(count)
        return limits
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count N or per channel NAME=N,NAME=N, got {text!r}") from None


def scale_arg(text: str) -> float:
    """A positive number, also as a fraction: 0.000244140625 or 1/4096."""
    try:
        num, _, den = text.partition("/")
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number or fraction: {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def c_symbol(text: str) -> str:
    """An argparse type: a C identifier that is not a keyword."""
    if not _C_IDENTIFIER.match(text) or text in _C_KEYWORDS:
        raise argparse.ArgumentTypeError(f"not a valid C identifier: {text!r}")
    return text


AUTO_PORT = "auto"
PORT_HELP = ("device URL: a serial port (/dev/ttyACM0), socket://127.0.0.1:PORT (simulators; `tinydrift sim` "
             "prints one), a pty path, or 'auto' (the one Nano 33 BLE plugged in, found by USB VID:PID)")
# Every --help that explains trigger bits lists them from core.triggers.TRIGGER_NAMES, the one place they are named.
TRIGGER_BITS = ", ".join(f"{bit} {name}" for bit, name in TRIGGER_NAMES)


def port_arg(text: str) -> str:
    """An argparse type: a device URL or "auto" (resolved when the command runs, by :func:`resolve_port`)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty device URL")
    return text


def port_option(parser: argparse.ArgumentParser, required: bool = True, default: str | None = None) -> None:
    """The --port URL option every command that talks to a device takes (also 'auto')."""
    parser.add_argument("--port", type=port_arg, required=required, default=default, metavar="URL", help=PORT_HELP)


def resolve_port(url: str) -> str:
    """The URL to open: "auto" becomes the serial port of the one Nano 33 BLE plugged in."""
    if url != AUTO_PORT:
        _check_tcp_spelling(url)
        return url
    from tinydrift.device.flash import find_port

    return find_port()


_HOST_PORT = re.compile(r"^(?:(?:tcp|socket)://)?\[?([0-9A-Za-z.:-]*?)\]?:([0-9]{1,5})/?$")


def _check_tcp_spelling(url: str) -> None:
    """InputError for HOST:PORT or tcp://HOST:PORT, which pyserial would take for a device path or reject."""
    if url.startswith("socket://") or "/" in url.removeprefix("tcp://").rstrip("/"):
        return
    m = _HOST_PORT.match(url)
    if m is None or not (url.startswith("tcp://") or m.group(1)):
        return
    import os

    if not url.startswith("tcp://") and os.path.exists(url):
        return  # a device node or pty that happens to look like HOST:PORT
    raise InputError(f"cannot open {url}: a TCP port is written socket://{m.group(1) or '127.0.0.1'}:{m.group(2)}")


def make_parser(prog: str, description: str, epilog: str, sub: Any = None, name: str | None = None,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A (sub)parser with a wrapped description and the epilog printed as written."""
    options = dict(description=textwrap.fill(description, 79), epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter,
                   **kwargs)
    if sub is None:
        return argparse.ArgumentParser(prog=prog, **options)
    return sub.add_parser(name, **options)


# ------------------------------------------------------------------------------------------ output


def file_error(verb: str, path: object, exc: OSError) -> InputError:
    """The one-line error for a file that cannot be read or written."""
    return InputError(f"{verb} {path}: {exc.strerror or exc}")


def write_output(path: str, text: str) -> None:
    """Write text to stdout ('-') or to a file (via a temporary file, so a failure leaves no half file)."""
    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise file_error("cannot write", path, exc) from None


def q8_text(value: int) -> str:
    """A Q8 threshold in score units, or "disabled"."""
    return "disabled" if value == THRESHOLD_DISABLED else f"{value / Q8:.4f}"


def trigger_text(bits: int) -> str:
    """Trigger bits as "instant+cusum", or "none"."""
    names = trigger_names(bits)
    return "+".join(names) if names else "none"


def with_names(record: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A JSON record (score --json, replay --json) with its bit fields also spelled out by name.

    Adds ``channels`` (the names, in the order of the per-channel lists), ``triggers`` (names of the trigger
    bits), ``top_channel_name`` and, per health mask, the names of the channels it flags (``stuck_channels``
    ...). The numeric fields stay as they are, so readers of the numbers are unaffected.
    """
    out = dict(record)
    out["channels"] = list(names)
    out["triggers"] = trigger_names(int(record["trigger"]))
    top = int(record["top_channel"])
    out["top_channel_name"] = names[top] if 0 <= top < len(names) else f"ch{top}"
    for field, what in HEALTH_MASKS:
        out[f"{what}_channels"] = mask_channels(int(record[field]), names)
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], align_numbers: bool = True) -> list[str]:
    """Lines of a plain-text table, numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for j, r in enumerate(cells):
        out.append("  " + "  ".join(v.rjust(w) if j and align_numbers and _numeric(v) else v.ljust(w)
                                    for v, w in zip(r, widths)).rstrip())
    return out


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def one_line(message: object) -> str:
    """A message on one line (the CLI's errors are one line)."""
    return " ".join(str(message).split()) or "unknown error"


# ------------------------------------------------------------------------------------------ embedding models


def model_options(parser: argparse.ArgumentParser, what: str) -> None:
    """The --model/--layer/--tensor/--input-scale options of commands that take an embedding model."""
    group = parser.add_argument_group("embedding model (external-embedding profiles; needs TensorFlow)")
    group.add_argument("--model", metavar="MODEL", help=f"{what} (.keras or .tflite)")
    group.add_argument("--layer", metavar="NAME", help=".keras: the layer whose output is the embedding")
    group.add_argument("--tensor", metavar="T", help=".tflite: the embedding tensor's NAME, INDEX or output:N")
    group.add_argument("--input-scale", type=scale_arg, default=None, metavar="S",
                       help="model input = int16 counts * S (default: 1/4096)")


def embedding_model(args: argparse.Namespace) -> Any:
    """The --model EmbeddingModel (TensorFlow imported only here), or None without --model."""
    if args.model is None:
        given = [opt for opt, v in (("--layer", args.layer), ("--tensor", args.tensor),
                                    ("--input-scale", args.input_scale)) if v is not None]
        if given:
            raise InputError(f"{' and '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only with --model")
        return None
    from tinydrift.build.model import DEFAULT_INPUT_SCALE, load_embedding_model

    return load_embedding_model(args.model, layer=args.layer, tensor=args.tensor,
                                input_scale=DEFAULT_INPUT_SCALE if args.input_scale is None else args.input_scale)
