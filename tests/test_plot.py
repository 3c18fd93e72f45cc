"""`run_plot`: one PNG of a recorded run folder, and a one-line error for a folder without its CSVs."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from test_metrics import recorded_run

from muzero_lite.reporting.metrics import log_eval
from muzero_lite.reporting.plot import PlotError, moving_average, run_plot


def _png(path) -> Image.Image:
    """The PNG at path, opened and checked whole by PIL."""
    assert path.stat().st_size > 10_000
    img = Image.open(path)
    img.verify()
    return Image.open(path)


@pytest.mark.parametrize("mario", [False, True])
def test_run_plot_writes_a_png_of_a_recorded_run(tmp_path, mario):
    run, _ = recorded_run(tmp_path, [20, 35, 12, 41, 27, 33], steps=3, mario=mario)
    rows = [{"level": "1-1" if mario else "CartPole-v1", "games": 3, "mean_return": 30.0, "min_return": 20.0,
             "max_return": 41.0, "mean_max_x": 320.0 if mario else 0.0, "max_max_x": 340, "flags": 1,
             "mean_moves": 30.0, "distinct": 3}]
    log_eval(run, 3, rows, out=io.StringIO())
    out = io.StringIO()
    path = run_plot(run, out=out)
    assert path == run / "plots" / "run.png" and out.getvalue() == f"{path}\n"
    img = _png(path)
    assert img.format == "PNG" and img.size == (1400, 1200)
    assert len(set(np.asarray(img.convert("L")).ravel().tolist())) > 20      # drawn, not a blank canvas
    assert [p.name for p in path.parent.iterdir()] == ["run.png"]             # no temp file left


def test_run_plot_of_a_folder_without_csvs_is_one_line_naming_it(tmp_path):
    with pytest.raises(PlotError) as e:
        run_plot(tmp_path / "nothing", out=io.StringIO())
    message = str(e.value)
    assert "\n" not in message and str(tmp_path / "nothing") in message and "selfplay_metrics.csv" in message
    assert isinstance(e.value, ValueError)
    assert not (tmp_path / "nothing").exists()


def test_moving_average_by_hand():
    assert moving_average(np.array([1.0, 3.0, 5.0, 7.0]), n=2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert moving_average(np.arange(5.0), n=100).tolist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert moving_average(np.zeros(0)).size == 0
