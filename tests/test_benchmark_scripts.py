"""The notebook kept apart from the product: every benchmark script runs (`--help`), and
benchmarks/results holds only the files that README.md and docs/ cite, each of which exists."""
import os
import re
import subprocess
import sys

import pytest
import torch
from conftest import ROOT

BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"


def scripts() -> list:
    """The benchmark scripts a person runs (modules that only others import have no __main__)."""
    return sorted(p for p in BENCHMARKS.glob("*.py") if '__name__ == "__main__"' in p.read_text())


def cited() -> set[str]:
    """Every benchmarks/results/... path written in README.md or docs/*.md."""
    text = "".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    return {c.rstrip(".,:;") for c in re.findall(r"benchmarks/results/[A-Za-z0-9_./-]+", text)}


# runs each script as __main__ with --help in one interpreter (one torch import for all of them)
HELP_ALL = """
import contextlib, io, os, runpy, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))       # as `python benchmarks/NAME.py` would have it
for path in sys.argv[1:]:
    sys.argv = [path, "--help"]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        code = "no exit"
    except SystemExit as e:
        code = e.code
    assert code in (0, None), f"{path} --help: exit {code}"
    assert "usage" in out.getvalue().lower(), f"{path} --help printed no usage"
    print("ok", path)
"""


def test_every_benchmark_script_answers_help():
    paths = [str(p) for p in scripts()]
    assert len(paths) >= 10
    r = subprocess.run([sys.executable, "-c", HELP_ALL, *paths], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr.strip().splitlines()[-1:]
    assert r.stdout.count("ok ") == len(paths)
    r = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "bash benchmarks/gpu_check.sh" in r.stdout


def test_the_gpu_check_says_there_is_no_cuda_and_exits_2(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    r = subprocess.run(["bash", str(BENCHMARKS / "gpu_check.sh"), "1", str(tmp_path)], capture_output=True, text=True,
                       env={**os.environ, "PY": sys.executable}, timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        f"gpu_check.sh: no CUDA device for {sys.executable}'s torch: nothing to check here"]
    assert list(tmp_path.iterdir()) == []


def test_results_hold_only_cited_files_and_every_citation_exists():
    files = {p.relative_to(ROOT).as_posix() for p in RESULTS.rglob("*") if p.is_file()}
    paths = cited()
    assert not sorted(files - paths), "in benchmarks/results but cited by no doc"
    # a citation is a file, or the --out prefix of a benchmark's files (e.g. NAME -> NAME_summary.csv)
    missing = [c for c in paths if c not in files and not any(f.startswith(c) for f in files)]
    assert not missing, "cited but not in benchmarks/results"
    pngs = [f for f in files if f.endswith(".png")]
    assert all((ROOT / f).stat().st_size < 200_000 for f in pngs)
