"""One leaderboard run in its own process: `python -m genzoo.lab.board_job SPEC.json RECORD.json`.

SPEC.json holds {"run": the BoardRun's fields, "pictures": folder}; the record is written atomically to RECORD.json.
Run by `genzoo.lab.leaderboard` so that each run's peak memory is its own and a crash fails one row only; an error
prints one line on stderr and exits 1. Each run uses one torch thread, whatever the machine, so that a CPU budget
buys the same work on every row.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    import torch

    from genzoo.io import atomic_write_bytes
    from genzoo.lab.leaderboard import run_entry, run_from_spec

    torch.set_num_threads(1)  # the protocol: one thread per run, so the CPU budget buys the same work everywhere
    spec_path, out_path = argv
    with open(spec_path) as f:
        spec = json.load(f)
    run = run_from_spec(spec["run"])
    try:
        rec = run_entry(run, Path(out_path).parent, spec.get("pictures"))
    except Exception as e:  # noqa: BLE001  the parent records the one line
        print(f"{type(e).__name__}: {e}".splitlines()[0], file=sys.stderr)
        return 1
    atomic_write_bytes(out_path, json.dumps(rec, indent=1, default=str).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
