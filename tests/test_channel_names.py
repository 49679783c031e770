"""Channel names in the profile blob (names section, flag bit 6) and everywhere they are shown.

Oracles: the section's bytes are written out here by hand from docs/profile-format.md and compared with
Profile.to_bytes; the committed reference blobs (written before the section existed) must load and rewrite to the
same bytes; downstream outputs are compared with the names the profile was built with.
"""

from __future__ import annotations

import csv
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import tinydrift
from tinydrift.cli import app as cli
from tinydrift.core.errors import InputError, ProfileError
from tinydrift.core.profile import load_profile, validate
from tinydrift.core.recording import write_csv
from tinydrift.device.records import TelemetryRecord
from tinydrift.telemetry.collect import record_json
from tinydrift.telemetry.export import export_csv
from tinydrift.telemetry.store import TelemetryStore

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = sorted((ROOT / "tests" / "data" / "profiles").glob("*.tdp"))
NAMES = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]
FLAG_NAMES = 0x0040


def reference(name: str = "mixture_default") -> bytes:
    return (ROOT / "tests" / "data" / "profiles" / f"{name}.tdp").read_bytes()


def with_section(old: bytes, section: bytes) -> bytes:
    """old blob plus a names section before its CRC, by hand: flag bit 6, total_size, CRC recomputed."""
    body = bytearray(old[:-4]) + section
    struct.pack_into("<I", body, 8, len(body) + 4)
    flags = struct.unpack_from("<H", body, 22)[0]
    struct.pack_into("<H", body, 22, flags | FLAG_NAMES)
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


@pytest.mark.parametrize("path", REFERENCES, ids=[p.stem for p in REFERENCES])
def test_profiles_from_before_the_section_still_load(path: Path) -> None:
    old = path.read_bytes()
    prof = tinydrift.Profile.from_bytes(old)
    assert prof.channel_names is None
    assert prof.names() == [f"ch{c}" for c in range(prof.n_channels)]
    assert struct.unpack_from("<H", old, 22)[0] & FLAG_NAMES == 0
    rewritten = prof.to_bytes()
    assert rewritten == old  # no names: no section, the same bytes and id as before


def test_section_bytes_match_the_documented_layout() -> None:
    old = reference()
    prof = tinydrift.Profile.from_bytes(old).replace(channel_names=NAMES)
    text = b"acc_x\0acc_y\0acc_z\0gyr_x\0gyr_y\0gyr_z\0"  # 36 bytes: a multiple of 4, no padding
    expected = with_section(old, text)
    # the id is the CRC of the blob with id and time zeroed: recompute it for the named blob by hand
    zeroed = bytearray(expected[:-4])
    struct.pack_into("<I", zeroed, 12, 0)
    struct.pack_into("<I", zeroed, 48, 0)
    assert prof.profile_id == zlib.crc32(bytes(zeroed))
    blob = prof.to_bytes()
    assert len(blob) == len(old) + 36
    body = bytearray(expected[:-4])
    struct.pack_into("<I", body, 12, prof.profile_id)
    assert blob == bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))
    back = tinydrift.Profile.from_bytes(blob)
    assert back.channel_names == NAMES and back.names() == NAMES

    # padding: 7 + 6 terminators = 13 bytes -> 16, three zero bytes of padding
    short = ["ab", "b", "c", "d", "e", "f"]
    padded = tinydrift.Profile.from_bytes(old).replace(channel_names=short).to_bytes()
    assert padded[-4 - 16:-4] == b"ab\0b\0c\0d\0e\0f\0" + bytes(3)
    assert len(padded) == len(old) + 16


def test_utf8_names_round_trip() -> None:
    names = ["Beschl. x", "Beschl. ÿ", "温度", "gyr_x", "gyr_y", "g" * 31]
    prof = tinydrift.Profile.from_bytes(reference()).replace(channel_names=names)
    assert tinydrift.Profile.from_bytes(prof.to_bytes()).channel_names == names


@pytest.mark.parametrize("section, why", [
    (b"acc_x\0acc_y\0acc_z\0gyr_x\0gyr_y\0\0\0", "5 channel names for 6"),
    (b"a\0b\0c\0d\0e\0f\0g\0\0\0", "7 channel names for 6"),
    (b"a\0b\0c\0d\0e\0\xff\0", "not UTF-8"),
    (b"a\0b\0c\0d\0e\0f\x01\0" + bytes(3), "control character"),
    (b"a\0b\0c\0d\0e\0f,g\0\0\0", "comma"),
    (b"a\0b\0c\0d\0e\0 f\0\0\0\0", "blank"),
    (b"a\0b\0c\0d\0a\0f\0", "duplicate"),
    (b"a\0b\0c\0d\0e\0f\0" + bytes(4), "padding"),
    (b"a\0b\0c\0d\0e\0ff", "one zero byte"),
    (b"a\0b\0c\0d\0e\0" + b"f" * 32 + b"\0" + bytes(1), "longer than 31 bytes"),
])
def test_bad_sections_pass_the_c_parser_but_not_from_bytes(section: bytes, why: str) -> None:
    assert len(section) % 4 == 0
    blob = with_section(reference(), section)
    validate(blob)  # the C parser checks the size only
    with pytest.raises(ProfileError, match="channel names") as exc:
        tinydrift.Profile.from_bytes(blob)
    assert why in str(exc.value)


def test_builder_refuses_names_a_profile_cannot_carry() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(-500, 500, size=(2000, 2)).astype(np.int16)
    with pytest.raises(InputError, match="channel names: channel 1 name 'b,c'"):
        tinydrift.build_profile([frames], window=10, channel_names=["a", "b,c"])
    with pytest.raises(ProfileError, match="channel names"):
        tinydrift.Profile.from_bytes(reference()).replace(channel_names=["x"] * 6).to_bytes()


@pytest.fixture(scope="module")
def named_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A profile built by the CLI from the bundled CSV (header acc_x..gyr_z); the CSV; the same data as .npy."""
    tmp = tmp_path_factory.mktemp("names")
    data = np.load(ROOT / "data" / "basicmotions.npz")
    frames = data["frames"][:3000]
    src = tmp / "train.csv"
    write_csv(src, frames, NAMES)
    npy = tmp / "field.npy"
    np.save(npy, data["frames"][3000:3600])
    out = tmp / "ref.tdp"
    assert cli.main(["profile", "build", str(src), "-o", str(out), "--window", "10", "-q"]) == 0
    return out, src, npy


def test_cli_build_stores_the_csv_header_and_show_prints_it(named_profile, capsys) -> None:
    out, _, _ = named_profile
    assert load_profile(out).channel_names == NAMES  # read back from the file: the blob carries them
    capsys.readouterr()
    assert cli.main(["profile", "show", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in shown["channels"]] == NAMES


def test_cli_build_channel_names_option_and_unnamed_data(named_profile, tmp_path: Path) -> None:
    _, src, npy = named_profile
    out = tmp_path / "renamed.tdp"
    names = ["ax", "ay", "az", "gx", "gy", "gz"]
    assert cli.main(["profile", "build", str(src), "-o", str(out), "--window", "10", "-q",
                     "--channel-names", ",".join(names)]) == 0
    assert load_profile(out).channel_names == names
    unnamed = tmp_path / "unnamed.tdp"
    assert cli.main(["profile", "build", str(npy), "-o", str(unnamed), "--window", "10", "-q"]) == 0
    blob = unnamed.read_bytes()
    assert struct.unpack_from("<H", blob, 22)[0] & FLAG_NAMES == 0
    assert load_profile(unnamed).channel_names is None
    assert cli.main(["profile", "build", str(src), "-o", str(out), "--window", "10", "-q",
                     "--channel-names", "a,b"]) == 1


def test_score_names_columns_from_the_profile_for_unnamed_data(named_profile, capsys) -> None:
    out, _, npy = named_profile
    capsys.readouterr()
    assert cli.main(["score", "--profile", str(out), str(npy), "--csv"]) == 0
    header = next(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert [h[len("z_mean_"):] for h in header if h.startswith("z_mean_")] == NAMES


def test_store_export_and_alert_json_take_names_from_the_blob(named_profile, tmp_path: Path) -> None:
    out, _, npy = named_profile
    prof = load_profile(out)  # as `monitor --profile ref.tdp` does: names come from the file alone
    rows = tinydrift.score(prof, np.load(npy))
    with TelemetryStore(tmp_path / "t.db") as db:
        db.add_device("dev")
        db.add_profile(prof)
        recs = [TelemetryRecord.from_row(r, seq=i, boot_id=1, profile_id=prof.profile_id, uptime_ms=i * 100)
                for i, r in enumerate(rows)]
        db.insert_records("dev", recs, received_at=1.0)
        assert db.profile(prof.profile_id)["channel_names"] == NAMES
        buf = io.StringIO()
        export_csv(db, buf)
    header = next(csv.reader(io.StringIO(buf.getvalue())))
    assert [h[len("z_mean_"):] for h in header if h.startswith("z_mean_")] == NAMES
    alert = record_json(recs[0], NAMES)
    assert alert["channel_names"] == NAMES


# ------------------------------------------------------------------ on the simulated boards (host and QEMU)

from e2e_boards import sim  # noqa: E402,F401  (fixture: one simulator per board)


def test_named_profile_runs_on_the_boards_and_replay_names_the_channels(sim, named_profile, capsys) -> None:
    """The firmware takes the larger named blob (its size bound counts the section) and computes exactly what the
    host does; `replay --profile` labels the lines with the profile's names even for an unnamed .npy stream."""
    out, _, npy = named_profile
    prof = load_profile(out)
    port = sim.url
    assert cli.main(["upload", "--port", port, str(out)]) == 0
    assert cli.main(["info", "--port", port, "--json"]) == 0
    capsys.readouterr()
    assert cli.main(["replay", "--port", port, str(npy), "--profile", str(out), "--json"]) == 0
    got = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = tinydrift.score(prof, np.load(npy))
    assert [g["score"] for g in got] == rows["score"].tolist()
    assert [g["top_channel"] for g in got] == rows["top_channel"].tolist()
    assert all(g["channels"] == NAMES for g in got)  # --json names the channels too
    assert [g["top_channel_name"] for g in got] == [NAMES[t] for t in rows["top_channel"].tolist()]
    assert cli.main(["replay", "--port", port, str(npy), "--profile", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    twice = tinydrift.score(prof, np.concatenate([np.load(npy)] * 2))  # the device's monitor runs on
    assert len(lines) == len(rows) and len(twice) == 2 * len(rows)
    for line, top in zip(lines, twice["top_channel"][len(rows):].tolist()):
        assert f"top {NAMES[top]} " in line
    other = tinydrift.Profile.from_bytes(reference())
    wrong = Path(out).with_name("other.tdp")
    other.save(wrong)
    assert cli.main(["replay", "--port", port, str(npy), "--profile", str(wrong)]) == 1
    assert "but the device at" in capsys.readouterr().err
