"""The notebook kept apart from the product: every benchmark script runs (`--help`), and
benchmarks/results holds only the files that README.md and docs/ cite, each of which exists."""
import re
import subprocess
import sys

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


def test_every_benchmark_script_answers_help():
    procs = {p.name: subprocess.Popen([sys.executable, str(p), "--help"], cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for p in scripts()}
    procs["gpu_check.sh"] = subprocess.Popen(["bash", str(BENCHMARKS / "gpu_check.sh"), "--help"], cwd=ROOT,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert len(procs) >= 10
    for name, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"{name} --help: {err.strip().splitlines()[-1:] or out}"
        assert "usage" in out.lower() or ".venv/bin/python" in out or "bash benchmarks" in out, name


def test_results_hold_only_cited_files_and_every_citation_exists():
    files = {p.relative_to(ROOT).as_posix() for p in RESULTS.rglob("*") if p.is_file()}
    paths = cited()
    assert not sorted(files - paths), "in benchmarks/results but cited by no doc"
    # a citation is a file, or the --out prefix of a benchmark's files (e.g. NAME -> NAME_summary.csv)
    missing = [c for c in paths if c not in files and not any(f.startswith(c) for f in files)]
    assert not missing, "cited but not in benchmarks/results"
    pngs = [f for f in files if f.endswith(".png")]
    assert all((ROOT / f).stat().st_size < 200_000 for f in pngs)
