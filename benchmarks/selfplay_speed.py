"""Self-play moves/s beside a random agent's moves/s on the same emulator, measured side by side.

Alternates rounds of (a) a random agent stepping the env adapter and (b) self-play games with the
config's networks (fresh weights: the speed does not depend on them) and truncated search, without
gifs and with the config's gif setting, in one process on one core. Prints medians and ratios.

    .venv/bin/python benchmarks/selfplay_speed.py [--config configs/mario.yaml] [--seconds 10] [--rounds 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from common import ROOT
from muzero_lite.acting import play_game
from muzero_lite.config import load_config
from muzero_lite.envs import game_spec, make_env
from muzero_lite.gifs import encode_gif
from muzero_lite.networks import build_networks, configure_torch


def random_agent(env, seconds: float, rng) -> float:
    """Moves/s of uniformly random moves for about `seconds`."""
    moves, start = 0, time.perf_counter()
    env.reset(rng)
    while time.perf_counter() - start < seconds:
        _, _, done, _ = env.step(int(rng.integers(env.num_actions)))
        moves += 1
        if done:
            env.reset(rng)
    return moves / (time.perf_counter() - start)


def selfplay(env, net, cfg, seconds: float, rng, gifs: bool) -> float:
    """Moves/s of whole self-play games (search + env, and gif encoding if gifs) for about `seconds`."""
    moves, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        rec, frames = play_game(env, net, cfg, rng, training_step=0, render=gifs)
        if gifs and frames:
            encode_gif(frames, cfg.selfplay.gif_fps)
        moves += rec.length
    return moves / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "mario.yaml"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    configure_torch(threads=1)
    cfg = load_config(args.config)
    env = make_env(cfg.env, 0)
    net = build_networks(cfg, game_spec(cfg.env)).eval()
    rng = np.random.default_rng(0)
    rand, plain, with_gif = [], [], []
    for r in range(args.rounds):
        rand.append(random_agent(env, args.seconds, rng))
        plain.append(selfplay(env, net, cfg, args.seconds, rng, gifs=False))
        with_gif.append(selfplay(env, net, cfg, args.seconds, rng, gifs=True))
        print(f"round {r}: random {rand[-1]:.1f}  selfplay {plain[-1]:.1f}  selfplay+gif-every-game {with_gif[-1]:.1f} moves/s", flush=True)
    env.close()
    m_rand, m_plain, m_gif = np.median(rand), np.median(plain), np.median(with_gif)
    gif_every = max(cfg.selfplay.gif_every, 1)
    # with a gif every k-th game, the gif cost per move is 1/k of the every-game cost
    per_move = (1 / m_gif - 1 / m_plain) / gif_every + 1 / m_plain if cfg.selfplay.gif_every else 1 / m_plain
    print(f"\nconfig {args.config}: {cfg.env.id} {cfg.env.levels if cfg.env.is_mario else ''}")
    print(f"random agent      : {m_rand:.1f} moves/s (median of {args.rounds})")
    print(f"self-play, no gif : {m_plain:.1f} moves/s = {m_plain / m_rand:.2f} x random")
    print(f"self-play, gif each game: {m_gif:.1f} moves/s = {m_gif / m_rand:.2f} x random")
    print(f"self-play, gif every {gif_every} (config): {1 / per_move:.1f} moves/s = {1 / per_move / m_rand:.2f} x random")


if __name__ == "__main__":
    main()
