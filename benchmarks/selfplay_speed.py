"""Self-play moves/s with 1, 2, 4, 8, 16 games in flight a worker, beside a random agent and the raw emulator.

Each round, one after the other on one core: (a) the raw emulator (Mario: nes-py stepped frame_skip
frames a move with random buttons, no framing), (b) a random agent through the env adapter, and
(c) for each N a fresh worker process playing N games at once with the config's networks (fresh
weights: the speed does not depend on them; on selfplay.device), the truncated search and the config's gif setting
(`acting.play_moves`: one batched search a move). Prints the medians over rounds, the ratio of
each to the random agent, and each worker's peak memory (VmHWM).

    .venv/bin/python benchmarks/selfplay_speed.py [--config configs/mario.yaml] [--games-in-flight 1 2 4 8 16]
        [--seconds 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np
from common import ROOT, status_kb

from muzero_lite.algorithm.networks import acting_networks, configure_torch, pick_device
from muzero_lite.config import load_config
from muzero_lite.envs import mario_emulator as mario
from muzero_lite.envs.make import game_spec, make_env
from muzero_lite.envs.mario_actions import action_bytes
from muzero_lite.processes.acting import Game, play_moves
from muzero_lite.reporting.gifs import encode_gif


def random_agent(env, seconds: float, rng) -> float:
    """Moves/s of uniformly random moves through the env adapter for about `seconds`."""
    moves, start = 0, time.perf_counter()
    env.reset(rng)
    while time.perf_counter() - start < seconds:
        _, _, done, _ = env.step(int(rng.integers(env.num_actions)))
        moves += 1
        if done:
            env.reset(rng)
    return moves / (time.perf_counter() - start)


def raw_emulator(cfg, seconds: float, rng) -> float:
    """Moves/s of nes-py itself: frame_skip frames a move with a random controller byte, no framing."""
    emulator = mario.make_emulator(cfg.env.levels[0])
    buttons = action_bytes(cfg.env.action_set)
    moves, start = 0, time.perf_counter()
    mario.emulator_reset(emulator)
    while time.perf_counter() - start < seconds:
        byte = buttons[int(rng.integers(len(buttons)))]
        for _ in range(cfg.env.frame_skip):
            _, done, _ = mario.emulator_step(emulator, byte)
            if done:
                mario.emulator_reset(emulator)
                break
        moves += 1
    mario.close_emulator(emulator)
    return moves / (time.perf_counter() - start)


def worker(config: str, n: int, seconds: float) -> dict:
    """In this process: n games at once for about `seconds`; moves/s and peak memory."""
    configure_torch(threads=1)
    cfg = load_config(config)
    device = pick_device(cfg.selfplay.device)
    _, net = acting_networks(cfg, game_spec(cfg.env), device)
    envs = [make_env(cfg.env, i) for i in range(n)]
    started = 0

    def new_game(env) -> Game:
        nonlocal started
        render = cfg.selfplay.gif_every > 0 and started % cfg.selfplay.gif_every == 0
        started += 1
        return Game(env, net, cfg, np.random.default_rng(started), render=render)
    games = [new_game(env) for env in envs]
    moves, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        play_moves(games)
        moves += len(games)
        for i, g in enumerate(games):
            if g.over:
                _, frames = g.finish()
                if frames:
                    encode_gif(frames, cfg.selfplay.gif_fps)
                games[i] = new_game(envs[i])
    rate = moves / (time.perf_counter() - start)
    return {"moves_per_s": rate, "peak_mb": status_kb("VmHWM") / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "mario.yaml"))
    ap.add_argument("--games-in-flight", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)   # run as one worker of N games in flight
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.config, args.worker, args.seconds)))
        return
    configure_torch(threads=1)
    cfg = load_config(args.config)
    env = make_env(cfg.env, 0)
    rng = np.random.default_rng(0)
    rand, raw, play, peak = [], [], {n: [] for n in args.games_in_flight}, {n: 0.0 for n in args.games_in_flight}
    for r in range(args.rounds):
        if cfg.env.is_mario:
            raw.append(raw_emulator(cfg, args.seconds, rng))
        rand.append(random_agent(env, args.seconds, rng))
        for n in args.games_in_flight:
            out = subprocess.run([sys.executable, __file__, "--config", args.config, "--worker", str(n),
                                  "--seconds", str(args.seconds)], capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            play[n].append(got["moves_per_s"])
            peak[n] = max(peak[n], got["peak_mb"])
        line = "  ".join(f"{n} in flight {play[n][-1]:.1f}" for n in args.games_in_flight)
        print(f"round {r}: " + (f"raw emulator {raw[-1]:.1f}  " if raw else "") + f"random {rand[-1]:.1f}  {line} moves/s",
              flush=True)
    env.close()
    m_rand = float(np.median(rand))
    gif = f"a gif every {cfg.selfplay.gif_every} games" if cfg.selfplay.gif_every else "no gifs"
    print(f"\nconfig {args.config}: {cfg.env.id}, {gif}, medians of {args.rounds} rounds of {args.seconds:g} s, one core, "
          f"networks on {cfg.selfplay.device}")
    if raw:
        print(f"raw emulator ({cfg.env.frame_skip} frames a move, no framing): {np.median(raw):.1f} moves/s; "
              f"the adapter's random agent is {m_rand / np.median(raw):.2f}x of it")
    print(f"random agent through the adapter: {m_rand:.1f} moves/s")
    print(f"{'games in flight':>15} {'moves/s':>8} {'x random':>9} {'peak RSS MB':>12}")
    for n in args.games_in_flight:
        m = float(np.median(play[n]))
        print(f"{n:15d} {m:8.1f} {m / m_rand:9.2f} {peak[n]:12.0f}")


if __name__ == "__main__":
    main()
