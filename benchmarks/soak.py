"""Soak: `muzero-lite run` with 2 workers for a long time, watching memory and disk.

Every --sample-every seconds it records the RSS of the trainer and of each worker (from /proc)
and the file counts and bytes of games/, gifs/ and checkpoints/. Once the replay window is full
(the trainer's status shows the buffer at window_size moves, or after --warmup seconds) the RSS at
that point is the baseline: it prints the largest growth over it per process (target: flat
within 10%), and disk used beside the retention limits. Writes a CSV of the samples.

    .venv/bin/python benchmarks/soak.py [--minutes 30] [--config configs/cartpole.yaml] [--workers 2]
"""
from __future__ import annotations

import argparse
import csv
import re
import tempfile
import time
from pathlib import Path

from common import ROOT, muzero_run, parent_pids, status_kb, stop_on_signals, write_run_config

from muzero_lite.config import load_config

# soak defaults: retention on, so that disk stays bounded
RETENTION = {"paths": {"keep_games": 2000, "keep_gifs": 20}, "train": {"keep_checkpoints": 3}}


def rss_mb(pid: int) -> float:
    """A process's resident memory in MB (nan once it has ended)."""
    try:
        return status_kb("VmRSS", pid) / 1024
    except (OSError, KeyError):
        return float("nan")


def children_by_role(pid: int) -> dict[str, int]:
    """{'train': pid, 'w0': pid, ...} of the run supervisor's children, from their command lines."""
    out = {}
    for child in (c for c, ppid in parent_pids().items() if ppid == pid):
        try:
            with open(f"/proc/{child}/cmdline") as f:
                argv = f.read().split("\0")
        except OSError:
            continue
        if "train" in argv:
            out["train"] = child
        elif "--worker" in argv:
            out[argv[argv.index("--worker") + 1]] = child
    return out


def folder_usage(folder: Path) -> tuple[int, int]:
    """(files, bytes) of the files directly in folder."""
    n = size = 0
    for p in folder.glob("*"):
        if p.is_file():
            n += 1
            size += p.stat().st_size
    return n, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "cartpole.yaml")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample-every", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=None, help="seconds before the RSS baseline (default: a third of the run)")
    ap.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "out" / "soak.csv")
    args = ap.parse_args()
    stop_on_signals()
    run_dir = Path(tempfile.mkdtemp(prefix="soak_"))
    cfg_path = write_run_config(args.config, run_dir, RETENTION)
    cfg = load_config(cfg_path)
    warmup = args.warmup if args.warmup is not None else args.minutes * 60 / 3
    log_path = run_dir / "run.log"
    start, rows, baseline = time.time(), [], None
    print(f"soak in {run_dir} for {args.minutes:.0f} min, {args.workers} workers; baseline after {warmup:.0f} s", flush=True)
    with muzero_run(cfg_path, run_dir, args.workers) as proc:
        while time.time() - start < args.minutes * 60:
            time.sleep(min(args.sample_every, max(0.0, args.minutes * 60 - (time.time() - start))))
            t = time.time() - start
            roles = children_by_role(proc.pid)
            row = {"seconds": round(t), **{f"rss_mb/{k}": round(rss_mb(v), 1) for k, v in sorted(roles.items())}}
            for name in ("games", "gifs", "checkpoints"):
                n, size = folder_usage(run_dir / getattr(cfg.paths, name))
                row[f"{name}/files"], row[f"{name}/mb"] = n, round(size / 1e6, 2)
            status = [l for l in log_path.read_text().splitlines() if l.startswith("[train] step")]
            m = re.search(r"moves (\d+)", status[-1]) if status else None
            row["buffer/moves"] = int(m.group(1)) if m else 0
            rows.append(row)
            if baseline is None and (t >= warmup or row["buffer/moves"] >= cfg.train.window_size * 0.99):
                baseline = row
            print("  " + "  ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for r in rows for k in r}, key=lambda k: (k != "seconds", k))
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"\nsamples written to {args.csv}; run log {log_path}")
    if baseline is None:
        print("the run ended before the baseline: run longer")
        return
    after = [r for r in rows if r["seconds"] >= baseline["seconds"]]
    for key in sorted(k for k in baseline if k.startswith("rss_mb/")):
        peak = max(r.get(key, 0) for r in after)
        print(f"{key}: {baseline[key]:.1f} MB at {baseline['seconds']} s -> max {peak:.1f} MB after "
              f"({100 * (peak / baseline[key] - 1):+.1f}%)")
    last = rows[-1]
    print(f"disk at the end: games {last['games/files']} files {last['games/mb']} MB (keep_games {cfg.paths.keep_games}), "
          f"gifs {last['gifs/files']} files {last['gifs/mb']} MB (keep_gifs {cfg.paths.keep_gifs}), "
          f"checkpoints {last['checkpoints/files']} files {last['checkpoints/mb']} MB (keep {cfg.train.keep_checkpoints})")


if __name__ == "__main__":
    main()
