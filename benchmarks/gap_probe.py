"""Mario 1-1: where do the gaps stop self-play, and was a jump still possible when the search chose?

Two figures (issue 35 part 4: is it exploration, the search's depth, the value horizon?):

1. Per bucket of env moves and per gap of 1-1: of the self-play games that reached the gap, the share
   that crossed it and the share that fell in (from checkpoints/selfplay_metrics.csv). Few crossings among
   many arrivals means few examples of the way over in replay.
2. For the newest self-play games that died in a pit: the game is replayed on the emulator from its
   recorded moves (the emulator is deterministic, self-play starts from the level's start), and at each of
   the last --back positions before the death a family of continuations is tried from the real state:
   w moves of right+B, then right+A+B held h moves, then right+B. The last position from which one of them
   gets over is the game's last chance, d moves before the death. At that position: the move played,
   whether A was then held as long as a working continuation holds it, the stored search policy's mass
   on the right jumps (right+A, right+A+B) and on the move played (~0: not a move the search picked).
   A last chance more than search_depth moves before the death is beyond what the search's model
   rollout reaches: there only the value can warn.

    .venv/bin/python benchmarks/gap_probe.py RUN_DIR [RUN_DIR ...] [--bucket 50000] [--games 20] [--back 12]
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import print_columns

from muzero_lite.config import load_config
from muzero_lite.reporting.metrics import SELFPLAY_CSV, cell_number, read_rows

# x_pos spans of 1-1's three pits (tile columns 69-70, 86-88 and 153-154, 16 px a tile); the self-play
# games that died in a pit in the held-exploration runs of 2026-12-06 ended at max_x 1104-1151 and 1376-1439
GAPS_1_1 = {"gap 1": (1104, 1136), "gap 2": (1376, 1424), "gap 3": (2448, 2480)}
NEAR = 16       # a game reached a gap when its max_x came within this of the gap's near edge
ACROSS = 32     # and crossed it when its max_x passed the far edge by this much
RIGHT_B, RIGHT_A_B = "right+B", "right+A+B"
WAITS, HOLDS, CONTINUATION_MOVES = (0, 1, 2), (3, 5, 7, 9, 11), 30
# a move the stored search policy gave less than this was the search's worst or an unsearched one (normalised Q
# ~0): played by the held explorer, or now and then by the soft move choice (all such moves together get
# ~1% of it at inverse temperature 7)
OFF_SEARCH = 0.01


def gap_at(x: float, gaps: dict) -> str | None:
    """The gap a game that ended at max_x x fell into, or None when x is by no gap."""
    for name, (start, end) in gaps.items():
        if start - NEAR <= x < end + ACROSS:
            return name
    return None


def gap_rates(rows: list[dict], gaps: dict) -> dict:
    """{gap: (reached, crossed, fell in)} over game rows: reached = max_x >= start - NEAR, crossed = max_x >=
    end + ACROSS, fell in = a pit death by the gap."""
    out = {}
    for name, (start, end) in gaps.items():
        xs = [(x, r.get("death")) for r in rows if (x := cell_number(r, "max_x")) is not None and x >= start - NEAR]
        out[name] = (len(xs), sum(x >= end + ACROSS for x, _ in xs),
                     sum(d == "pit" and x < end + ACROSS for x, d in xs))
    return out


def continuations(names: list[str]) -> list[tuple[str, list[int]]]:
    """(label, moves) of each tried way over: w moves of right+B, right+A+B held h moves, then right+B."""
    run, jump = names.index(RIGHT_B), names.index(RIGHT_A_B)
    out = []
    for w in WAITS:
        for h in HOLDS:
            moves = [run] * w + [jump] * h
            out.append((f"w{w}h{h}", moves + [run] * (CONTINUATION_MOVES - len(moves))))
    return out


def last_chance(feasible: list[bool]) -> int | None:
    """Index of the last True in feasible (positions in game order), or None when there is none."""
    hits = [i for i, ok in enumerate(feasible) if ok]
    return hits[-1] if hits else None


def held_from(actions: np.ndarray, t: int, jumps: set[int]) -> int:
    """How many moves from t on the game pressed a jump button (A) without a break."""
    n = 0
    while t + n < len(actions) and int(actions[t + n]) in jumps:
        n += 1
    return n


@dataclass
class Probe:
    """One pit death: its gap, the game's length, the last chance (None: none in the window), what was played."""
    gap: str
    moves: int
    d: int | None = None            # moves from the last chance to the death
    window: int = 0                 # positions of the window from which a way over existed
    played: str = ""                # the move played at the last chance
    held: int = 0                   # the longest hold of A the game began within max(WAITS) + 1 moves of it
    needed: int = 0                 # the shortest hold h of a working continuation there
    jump_mass: float = math.nan     # the stored policy's mass on the right jumps there
    best: str = ""                  # the stored policy's most likely move there
    played_mass: float = math.nan   # the stored policy's mass on the move played there (~0: not the search's)


class Replay:
    """A 1-1 emulator replaying recorded moves, with nes-py's one backup slot to try continuations."""

    def __init__(self, level: str, frame_skip: int, action_set: str):
        from muzero_lite.envs import mario_emulator as mario
        from muzero_lite.envs.mario_actions import action_bytes
        self.mario, self.skip, self.bytes = mario, frame_skip, action_bytes(action_set)
        self.emulator = mario.make_emulator(level)
        _, raw = mario.emulator_reset(self.emulator)
        self.x, self.done, self.pit = int(raw["x_pos"]), False, False

    def move(self, action: int) -> None:
        """One move: the action's byte for frame_skip frames, stopping at the game's end."""
        for _ in range(self.skip):
            _, done, raw = self.mario.emulator_step(self.emulator, self.bytes[action])
            self.x = int(raw["x_pos"])
            if done:
                self.done = True
                self.pit = self.mario.death_cause(self.emulator, self.mario.clean_info(raw, "")) == "pit"
                return

    def restore(self) -> None:
        """Back to the backed-up state (nes-py keeps its done flag apart from the machine's state)."""
        self.emulator._restore()
        self.emulator.done = False

    def crosses(self, moves: list[int], beyond: int) -> bool:
        """From the backed-up state: do these moves take x to `beyond` before the game ends? (restores after)"""
        self.restore()
        x, done, pit = self.x, self.done, self.pit
        ok = False
        for a in moves:
            self.move(a)
            if self.x >= beyond:
                ok = True
                break
            if self.done:
                break
        self.restore()
        self.x, self.done, self.pit = x, done, pit
        return ok

    def close(self) -> None:
        self.mario.close_emulator(self.emulator)


def probe_game(path: Path, gaps: dict, back: int, frame_skip: int, action_set: str) -> Probe:
    """Replay one pit-death game and find its last chance among its last `back` positions."""
    from muzero_lite.data.gamefile import read_game
    from muzero_lite.envs.mario_actions import action_names
    rec = read_game(path)
    names = action_names(action_set)
    jumps = {i for i, n in enumerate(names) if "A" in n.split("+")}
    right_jumps = [i for i, n in enumerate(names) if n in ("right+A", RIGHT_A_B)]
    gap = gap_at(rec.meta["max_x"], gaps)
    _, end = gaps[gap]
    conts = continuations(names)
    T = len(rec.actions)
    start = max(0, T - back)
    replay = Replay(rec.meta["level"], frame_skip, action_set)
    feasible, working = [], []
    try:
        for t in range(T):
            if t >= start:
                replay.emulator._backup()
                ok = [label for label, moves in conts if replay.crosses(moves, end + ACROSS)]
                feasible.append(bool(ok))
                working.append(ok)
            replay.move(int(rec.actions[t]))
            if replay.done and t < T - 1:
                raise RuntimeError(f"{path}: the replay ended at move {t + 1} of {T}: not this game's start")
        if not (replay.done and replay.pit):
            raise RuntimeError(f"{path}: the replay did not end in a pit at move {T}")
    finally:
        replay.close()
    probe = Probe(gap, T, window=sum(feasible))
    i = last_chance(feasible)
    if i is None:
        return probe
    t = start + i
    probe.d = T - t
    probe.played = names[int(rec.actions[t])]
    probe.held = max(held_from(rec.actions, t + k, jumps) for k in range(max(WAITS) + 1))
    probe.needed = min(int(label.split("h")[1]) for label in working[i])
    probe.jump_mass = float(rec.policies[t, right_jumps].sum())
    probe.best = names[int(rec.policies[t].argmax())]
    probe.played_mass = float(rec.policies[t, int(rec.actions[t])])
    return probe


def newest_pit_games(run: Path, gaps: dict, games: int) -> list[Path]:
    """The run's newest `games` self-play games on 1-1 that died in a pit by a gap (their files still there)."""
    rows = read_rows(run / "checkpoints" / SELFPLAY_CSV)
    picked = []
    for r in reversed(rows):
        x = cell_number(r, "max_x")
        f = run / "games" / (r.get("game") or "")
        if r.get("death") == "pit" and r.get("level") == "1-1" and x is not None and gap_at(x, gaps) and f.is_file():
            picked.append(f)
            if len(picked) == games:
                break
    return picked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", help="Mario run folders (seeds of one config)")
    ap.add_argument("--bucket", type=int, default=50000, help="env moves per bucket of the crossing table")
    ap.add_argument("--games", type=int, default=20, help="newest pit deaths replayed per run (0: none)")
    ap.add_argument("--back", type=int, default=12, help="positions before each death tried for a way over")
    args = ap.parse_args()
    if args.bucket <= 0 or args.games < 0 or args.back <= 0:
        ap.error("--bucket and --back must be > 0 and --games >= 0")
    rows = [r for run in args.runs for r in read_rows(run / "checkpoints" / SELFPLAY_CSV) if r.get("level") == "1-1"]
    if not rows:
        ap.error(f"no self-play games on 1-1 in {', '.join(map(str, args.runs))} (checkpoints/{SELFPLAY_CSV})")
    by: dict[int, list[dict]] = {}
    for r in rows:
        if (at := cell_number(r, "env_moves")) is not None:
            by.setdefault(int(math.ceil(at / args.bucket)) * args.bucket, []).append(r)
    table = []
    for end in sorted(by):
        rates = gap_rates(by[end], GAPS_1_1)
        cells = [f"{end:,}", str(len(by[end]))]
        for reached, crossed, fell in rates.values():
            cells.append(f"{reached}: {crossed / reached:.0%} over, {fell / reached:.0%} in" if reached else "-")
        table.append(cells)
    print(f"self-play games on 1-1 of {len(args.runs)} runs: of those that reached each gap, the share over it "
          "and in it")
    print_columns(["env moves", "games"] + list(GAPS_1_1), table)
    probes = []
    for run in args.runs if args.games else []:
        cfg = load_config(run / "config.yaml")
        for f in newest_pit_games(run, GAPS_1_1, args.games):
            probes.append(probe_game(f, GAPS_1_1, args.back, cfg.env.frame_skip, cfg.env.action_set))
        depth = cfg.search.search_depth
    if not probes:
        return
    print(f"\nthe newest pit deaths replayed, a way over tried from each of their last {args.back} positions "
          f"(search depth {depth}):")
    for gap in GAPS_1_1:
        ps = [p for p in probes if p.gap == gap]
        if not ps:
            continue
        chances = [p for p in ps if p.d is not None]
        line = f"{gap}: {len(ps)} deaths, {len(chances)} with a way over in the window"
        if chances:
            d = np.array([p.d for p in chances])
            line += (f"; last chance d = {np.median(d):.0f} moves before the death (median; {np.mean(d > depth):.0%} "
                     f"beyond depth {depth}), window {np.median([p.window for p in chances]):.0f} positions; there: "
                     f"a jump played {np.mean([p.played in ('right+A', RIGHT_A_B) for p in chances]):.0%}, "
                     f"A held >= the shortest working hold {np.mean([p.held >= p.needed for p in chances]):.0%}, "
                     f"policy mass on right jumps {np.mean([p.jump_mass for p in chances]):.2f}, policy's best a "
                     f"right jump {np.mean([p.best in ('right+A', RIGHT_A_B) for p in chances]):.0%}, the move "
                     f"played one the search gave < {OFF_SEARCH:.0%} "
                     f"{np.mean([p.played_mass < OFF_SEARCH for p in chances]):.0%}")
        print(line)
    print_columns(["gap", "moves", "d", "window", "played", "its mass", "A held", "needed", "jump mass", "policy best"],
                  [[p.gap, str(p.moves), "-" if p.d is None else str(p.d), str(p.window), p.played or "-",
                    f"{p.played_mass:.2f}", str(p.held), str(p.needed), f"{p.jump_mass:.2f}", p.best or "-"]
                   for p in probes])


if __name__ == "__main__":
    main()
