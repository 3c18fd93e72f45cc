"""The run's env-move count (processes/env_moves.py): counted once per game across trainer restarts."""
from muzero_lite.processes.env_moves import EnvMoves
from muzero_lite.reporting.metrics import SELFPLAY_CSV, SELFPLAY_FIELDS, CsvLog


def test_a_new_run_counts_every_loaded_game(tmp_path):
    moves = EnvMoves.resume(tmp_path / "checkpoints", tmp_path / "games")     # neither folder exists yet
    assert moves.total == 0
    assert moves.add("game-a.npz", 30) and moves.add("game-b.npz", 12)
    assert moves.total == 42


def test_a_restarted_trainer_continues_and_skips_the_games_it_counted(tmp_path):
    checkpoints, games = tmp_path / "checkpoints", tmp_path / "games"
    checkpoints.mkdir()
    games.mkdir()
    for name in ("game-a.npz", "game-b.npz"):     # a is still in games/, b too; c was pruned
        (games / name).write_bytes(b"x")
    log = CsvLog(checkpoints / SELFPLAY_CSV, SELFPLAY_FIELDS)
    row = {k: "" for k in SELFPLAY_FIELDS}
    rows = []
    for total, name in ((30, "game-c.npz"), (55, "game-a.npz"), (70, "game-b.npz")):
        rows.append([{**row, "env_moves": total, "game": name}[k] for k in SELFPLAY_FIELDS])
    log.write(rows)
    log.close()
    moves = EnvMoves.resume(checkpoints, games)
    assert moves.total == 70 and moves.counted == {"game-a.npz", "game-b.npz"}
    assert not moves.add("game-a.npz", 25) and moves.total == 70       # reloaded from games/: not again
    assert moves.add("game-a.npz", 25) and moves.total == 95           # a later game of that name would count
    assert moves.add("game-d.npz", 5) and moves.total == 100
