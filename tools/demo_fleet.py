#!/usr/bin/env python3
"""make demo-fleet: simulated devices -> 2 gateways -> mosquitto -> 2 ingest workers -> PostgreSQL -> fleet page.

Starts a throwaway mosquitto and PostgreSQL on loopback ports (Debian packages; nothing of a
system service is touched), the ingest workers and gateways as the `tinydrift` commands a user
runs, then `tinydrift report` on the database. With --mqtt and --db it uses your broker and
database instead and starts only the workers and gateways.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=10)
    ap.add_argument("--records", type=int, default=300)
    ap.add_argument("--rate", type=float, default=20.0, help="records/s per device")
    ap.add_argument("-o", "--output", default=str(ROOT / "build" / "demo-fleet" / "fleet.html"))
    args = ap.parse_args()
    spec = importlib.util.spec_from_file_location("bench_fleet", ROOT / "tools" / "bench_fleet.py")
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_fleet"] = bench
    spec.loader.exec_module(bench)

    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tinydrift-demo-fleet-"))
    fleet = bench.Fleet(work)
    try:
        print(f"[1/4] mosquitto on 127.0.0.1:{fleet.mq.port}, PostgreSQL on 127.0.0.1:{fleet.pg.port} (in {work})")
        fleet.start()
        print(f"[2/4] 2 ingest workers, 2 gateways x {args.devices // 2} simulated devices x {args.records} records "
              f"at {args.rate:g}/s (every fourth device drifts halfway)")
        res = bench.run(fleet, "demo", args.devices, args.records, gateways=2, workers=2, rate=args.rate)
        print(f"[3/4] PostgreSQL holds {res.stored} of {res.expected} records ({res.lost} lost, {res.duplicated} "
              f"duplicated, key checksum {'equal' if res.checksum_ok else 'DIFFERENT'}), "
              f"latency median {res.latency_median_ms or 0:.0f} ms" if res.latency_median_ms else
              f"[3/4] PostgreSQL holds {res.stored} of {res.expected} records ({res.lost} lost, "
              f"{res.duplicated} duplicated)")
        print(f"[4/4] tinydrift report --db {fleet.db_url('demo')} -o {args.output}")
        code = subprocess.call([sys.executable, "-m", "tinydrift", "report", "--db", fleet.db_url("demo"), "-o",
                                args.output])
        return code or (1 if res.lost or res.duplicated else 0)
    finally:
        fleet.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    sys.exit(main())
