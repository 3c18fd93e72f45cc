"""The one config object: dataclasses loaded from YAML, validated in one place.

Why dataclasses and not a validating library: the standard library is enough for a tree of
plain fields, keeps the dependency list short, and lets every error name the file, the
dotted key and the value in one line (``ConfigError``). Every field has a one-line doc in
the comment above it. The defaults are the values this package ships (Super Mario Bros sized
for a CPU); ``configs/orig.yaml`` sets the original research code's values, and the other
``configs/*.yaml`` set only what differs from the defaults for their game.
"""
from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

ACTION_SETS = ("complex", "simple", "right_only")
MARIO_ID = "SuperMarioBros"
LEVEL_RE = re.compile(r"^([1-8])-([1-4])$")
# the batch that train.lr, train.checkpoint_interval and eval.ema_half_life are given for when
# train.batch_size is auto (processes/plan.py scales them to the batch the run picks)
BASE_BATCH = 64


class ConfigError(ValueError):
    """A bad config: the message is one line naming the file, the key and the value."""


def _check(cond: Any, why: str) -> dict:
    """Field metadata: a predicate on the value and what it must be when it fails."""
    return {"check": cond, "why": why}


def _positive(v: Any) -> bool:
    """v > 0."""
    return v > 0


def _non_negative(v: Any) -> bool:
    """v >= 0."""
    return v >= 0


def _one_of(*choices: str) -> dict:
    """Field metadata for a string that must be one of choices."""
    return _check(lambda v: v in choices, f"must be one of {', '.join(choices)}")


@dataclass(frozen=True)
class RewardConfig:
    """Weights of the Mario reward terms (docs/algorithm.md §5); each move's reward is their sum."""
    # weight of the clipped change of Mario's x position
    x: float = 1.0
    # |Δx| is clipped to this per move
    x_clip: float = field(default=15.0, metadata=_check(_non_negative, "must be >= 0"))
    # weight of the change of the in-game clock (negative as it runs down)
    clock: float = 1.0
    # weight of the change of lives; a death that ends a stage game counts as -1 life
    life: float = 15.0
    # weight of the change of the coin count
    coins: float = 1.0
    # bonus when the flag (or Bowser's axe) is reached
    flag: float = 50.0


@dataclass(frozen=True)
class EnvConfig:
    """What is played, how moves and observations are made, and how its rewards are discounted."""
    # "SuperMarioBros" or any registered Gymnasium id (e.g. "CartPole-v1")
    id: str = MARIO_ID
    # Mario only: a random level per game from this list, "world-stage"
    levels: list = field(default_factory=lambda: ["1-1"])
    # Mario only: levels never played in self-play; `muzero-lite eval` adds a row for each, named
    # "<level> (held out)", to show what the agent carries to a level it has not seen
    held_out_levels: list = field(default_factory=list)
    # Mario only: complex (12 moves), simple (7) or right_only (5)
    action_set: str = field(default="complex", metadata=_one_of(*ACTION_SETS))
    # emulator frames per move; the action is repeated for each
    frame_skip: int = field(default=4, metadata=_check(_positive, "must be > 0"))
    # frames kept per move, each the max of frame_skip/frames_per_move consecutive frames
    frames_per_move: int = field(default=2, metadata=_check(_positive, "must be > 0"))
    # image observations are resized to [height, width]
    frame_size: list = field(default_factory=lambda: [64, 64])
    # image observations in grey (1 channel) instead of RGB; gifs stay in colour
    grayscale: bool = True
    # moves stacked in the observation: the current one and stack_moves-1 before it
    stack_moves: int = field(default=4, metadata=_check(_positive, "must be > 0"))
    # each stacked frame is followed by the move that led to it (a plane for images, a one-hot for vectors);
    # false: frames only. An observation that is the whole state (Acrobot's, CartPole's) needs no moves, and
    # with them the value learns the behaviour's habits (a held explorer's last move predicts its next),
    # which the dynamics then copy into the search as a bias for one action (docs/experiments.md 12-06)
    action_history: bool = True
    # a game ends after this many moves
    max_moves: int = field(default=550, metadata=_check(_positive, "must be > 0"))
    # Mario only: a game ends after this many moves in a row without a new maximum of x (Mario stuck,
    # e.g. before a pipe); it ends as terminated, with no reward after it and no death term (0: never)
    stall_moves: int = field(default=0, metadata=_check(_non_negative, "must be >= 0"))
    # Gymnasium vector observations only: each dimension whose observation-space bounds are finite is
    # mapped from [low, high] to [-1, 1] (MountainCar's velocity spans only ±0.07); others stay as they are
    scale_observations: bool = False
    # the first n moves of a game are random, n drawn from [0, initial_random_moves]
    initial_random_moves: int = field(default=0, metadata=_check(_non_negative, "must be >= 0"))
    # rewards are multiplied by this before they are stored and learned (Mario's returns of ~100
    # squeezed through h(x) learn slowly at 1)
    reward_scale: float = field(default=0.1, metadata=_check(_positive, "must be > 0"))
    # discount γ of rewards: a property of the game, used by the search and the value targets alike
    discount: float = field(default=0.97, metadata=_check(lambda v: 0 < v <= 1, "must be in (0, 1]"))
    reward: RewardConfig = field(default_factory=RewardConfig)

    @property
    def is_mario(self) -> bool:
        """True for Super Mario Bros, whose env, levels and reward terms are this package's own."""
        return self.id == MARIO_ID


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the six networks (docs/algorithm.md §2), CPU-sized."""
    # "conv" for image observations, "mlp" for vector observations
    kind: str = field(default="conv", metadata=_one_of("conv", "mlp"))
    # conv: channels of the hidden state and of every residual block
    channels: int = field(default=32, metadata=_check(_positive, "must be > 0"))
    # conv: residual blocks in representation and dynamics each
    blocks: int = field(default=1, metadata=_check(_non_negative, "must be >= 0"))
    # conv: side of the square hidden state
    hidden_hw: int = field(default=6, metadata=_check(_positive, "must be > 0"))
    # mlp: size of the hidden state vector
    latent: int = field(default=64, metadata=_check(_positive, "must be > 0"))
    # width of the fully connected layers of every head (and of the mlp bodies)
    width: int = field(default=64, metadata=_check(_positive, "must be > 0"))
    # value and reward are categorical over the integers [-support_size, support_size] of h(x)
    support_size: int = field(default=20, metadata=_check(_positive, "must be > 0"))


@dataclass(frozen=True)
class TemperatureStep:
    """One row of the inverse-temperature schedule: used while training step < until."""
    # training step below which this row applies; null for the last row (all later steps)
    until: Optional[int] = None
    # inverse temperature for moves before late_move
    early: float = 1.0
    # inverse temperature for moves from late_move on
    late: float = 1.0


def _default_schedule() -> list:
    """The original's schedule (500, 1000, 2000, 3000 steps) stretched 4x: it was made for days of training."""
    return [TemperatureStep(2000, 4, 4), TemperatureStep(4000, 6, 5), TemperatureStep(8000, 7, 7),
            TemperatureStep(12000, 8, 8), TemperatureStep(None, 9, 7)]


@dataclass(frozen=True)
class SearchConfig:
    """Truncated search (docs/algorithm.md §3)."""
    # how many root actions are looked ahead, ranked by the policy (or see root_selection)
    root_actions: int = field(default=3, metadata=_check(_positive, "must be > 0"))
    # model steps per look-ahead
    search_depth: int = field(default=3, metadata=_check(_positive, "must be > 0"))
    # "mean": mean(v0, v1, γv2, ...) + Σγ^i r (the original's, as written); "nstep": Σγ^i r + γ^d v_d
    q_rule: str = field(default="mean", metadata=_one_of("mean", "nstep"))
    # which root actions self-play searches: "top" the policy's best root_actions; "sample" its best
    # action plus root_actions-1 drawn from the policy without replacement (evaluation always uses top)
    root_selection: str = field(default="top", metadata=_one_of("top", "sample"))
    # the policy target stored for training: "normalised_q" min-max normalised Q divided by its sum (actions
    # not searched get almost nothing); "completed_q" softmax(logits + sigma(completed Q)) as in Gumbel
    # MuZero: the prior's logits raised by each action's rescaled Q, unsearched actions at the
    # prior-weighted mean Q of the searched ones (`search.completed_q_policy`)
    policy_target: str = field(default="normalised_q", metadata=_one_of("normalised_q", "completed_q"))
    # the root value stored for value targets (docs/algorithm.md §3.5): "mean" the mean Q over all
    # actions with the unsearched ones at the searched minimum (the original's; biased low); "policy"
    # the prior-weighted mean Q of the searched actions (what following the policy is worth, as far as
    # the search saw)
    root_value: str = field(default="mean", metadata=_one_of("mean", "policy"))
    # how moves are picked (docs/algorithm.md §3.7): "softmax_q" self-play from softmax(β · normalised Q),
    # β from `temperature`, evaluation argmax normalised Q (the original's); "target" self-play draws from
    # the stored target policy, evaluation plays its argmax (with policy_target completed_q, Gumbel MuZero's
    # improved policy: the prior raised by the searched Q, so a flat or noisy Q leaves the prior's choice)
    move_rule: str = field(default="softmax_q", metadata=_one_of("softmax_q", "target"))
    # moves of a game from which the schedule's `late` inverse temperature applies
    late_move: int = field(default=225, metadata=_check(_non_negative, "must be >= 0"))
    # inverse temperature of action sampling by training step
    temperature: list = field(default_factory=_default_schedule)


@dataclass(frozen=True)
class SelfplayConfig:
    """Self-play workers."""
    # games a worker plays at once, one per env, moved together with one batched network call a move
    # (Mario: 16 run self-play at ~0.85x a random agent's moves/s, 1 at ~0.56x; benchmarks/selfplay_speed.py)
    games_in_flight: int = field(default=16, metadata=_check(_positive, "must be > 0"))
    # games played with a uniform network before checkpoints are used
    random_games: int = field(default=20, metadata=_check(_non_negative, "must be >= 0"))
    # write a gif for every k-th game of a worker (1: every game; 0: none); see paths.keep_gifs
    gif_every: int = field(default=5, metadata=_check(_non_negative, "must be >= 0"))
    # εz-greedy exploration (docs/algorithm.md §3.8): at a move not already held, with this probability
    # self-play plays a uniformly random action held for n moves, n ~ zeta(explore_hold_mu) (0: off;
    # evaluation never explores)
    explore_epsilon: float = field(default=0.0, metadata=_check(lambda v: 0 <= v <= 1, "must be in [0, 1]"))
    # ε differs by game: explore_epsilon^(1 + explore_spread · u), u ~ U(0, 1) per game (Ape-X's ladder of
    # actors, ε 0.4 and spread 7: half the games below ε 0.016, a few near 0.4); 0: every game explore_epsilon
    explore_spread: float = field(default=0.0, metadata=_check(_non_negative, "must be >= 0"))
    # exponent μ of the zeta distribution of held moves, P(n) ∝ n^-μ (2: 61% of the stretches 1 move, 6% 10 or more)
    explore_hold_mu: float = field(default=2.0, metadata=_check(lambda v: v > 1, "must be > 1"))
    # each self-play move repeats the previous one with this probability, as eval's do
    # (eval.sticky_actions), so that the games learnt from are played under eval's conditions; the game
    # records the move played (0: off)
    sticky_actions: float = field(default=0.0, metadata=_check(lambda v: 0 <= v < 1, "must be in [0, 1)"))
    # frames per second of gifs
    gif_fps: int = field(default=30, metadata=_check(_positive, "must be > 0"))
    # a strip under each gif frame: move, action, searched actions with their Q, predicted value and
    # reward, Mario's x and the flag (false: the bare screen)
    annotate_gifs: bool = True
    # where self-play and eval run the networks: "cpu", "cuda" or "auto" (cuda when torch sees one).
    # The search and the envs stay on the CPU; on cuda each move's batched network calls (one for
    # the selfplay.games_in_flight games together, then one per search step) run on the GPU
    device: str = field(default="cpu", metadata=_one_of("cpu", "cuda", "auto"))


@dataclass(frozen=True)
class TrainConfig:
    """The trainer (docs/algorithm.md §4)."""
    # K: model steps unrolled per sample
    num_unroll_steps: int = field(default=5, metadata=_check(_positive, "must be > 0"))
    # n of the n-step value target
    td_steps: int = field(default=10, metadata=_check(_positive, "must be > 0"))
    # samples per training step; auto: `run`'s plan picks 64, 128 or 256, the fastest on the trainer's
    # device, and scales lr, checkpoint_interval, eval.ema_half_life and the temperature rows with it
    # (processes/plan.py; a trainer started alone: 64). lr and those intervals are given for BASE_BATCH
    batch_size: typing.Union[int, str] = field(default="auto", metadata=_check(
        lambda v: v == "auto" or (isinstance(v, int) and v > 0), "must be a number > 0 or auto"))
    # Adam learning rate
    lr: float = field(default=1e-3, metadata=_check(_positive, "must be > 0"))
    # Adam weight decay
    weight_decay: float = field(default=1e-4, metadata=_check(_non_negative, "must be >= 0"))
    # the training step's forward passes in bfloat16 (torch.autocast; losses, gradients and weights stay
    # float32): 1.6x the Mario steps/s on a Zen 4 core with AVX-512 BF16 (benchmarks/train_speed.py).
    # auto: on for conv networks where the trainer's device computes bfloat16 natively (a CPU with AVX-512
    # BF16 or AMX, a GPU that supports it), off elsewhere (emulated bfloat16 is slower than float32, and
    # small mlp networks gain nothing); true forces it
    bf16: typing.Union[bool, str] = field(default="auto", metadata=_check(lambda v: v in (True, False, "auto"),
                                                                         "must be true, false or auto"))
    # gradient norm clip
    grad_clip: float = field(default=5.0, metadata=_check(_positive, "must be > 0"))
    # the exploration network's Adam lr is lr times this
    exploration_lr_ratio: float = field(default=0.25, metadata=_check(_positive, "must be > 0"))
    # the main loss subtracts this times the exploration cross-entropy
    exploration_weight: float = field(default=0.0004, metadata=_check(_non_negative, "must be >= 0"))
    # weight of a loss that makes each unrolled state s^k tell the frame observed at t+k, through a linear
    # decoder that only training uses (vector observations, network.kind mlp; not in the original). Without
    # it the dynamics learn what a move does only through the value, reward and policy targets, which in
    # Acrobot barely depend on one move: the search then cannot tell the moves apart (docs/experiments.md 12-06)
    observation_weight: float = field(default=0.0, metadata=_check(_non_negative, "must be >= 0"))
    # replay window: the most recent moves kept; oldest games leave whole (~8 KB a Mario move)
    window_size: int = field(default=50000, metadata=_check(_positive, "must be > 0"))
    # the value at t+n that an n-step value target bootstraps from (docs/algorithm.md §4). stored: the
    # search's root value recorded when the game was played (the original's rule; it never changes, so in a
    # long window a target keeps the guess of the network that played the game). fresh: the value the
    # target network (a copy of the weights, renewed every target_interval steps) gives position t+n now
    value_bootstrap: str = field(default="stored", metadata=_one_of("stored", "fresh"))
    # training steps between renewals of the target network that value_bootstrap: fresh reads
    target_interval: int = field(default=100, metadata=_check(_positive, "must be > 0"))
    # games cut short by a time limit (max_moves, the env's own) bootstrap from their last root value
    # and get no loss past their end, instead of counting as ended there (a cut is not a death)
    bootstrap_truncated: bool = True
    # priority of a new game's positions
    new_priority: float = field(default=1000.0, metadata=_check(_positive, "must be > 0"))
    # added to |value error| to make a position's new priority
    priority_epsilon: float = field(default=0.1, metadata=_check(_positive, "must be > 0"))
    # importance weights are raised to this
    priority_beta: float = field(default=0.4, metadata=_check(lambda v: 0 <= v <= 1, "must be in [0, 1]"))
    # a checkpoint every this many training steps
    checkpoint_interval: int = field(default=100, metadata=_check(_positive, "must be > 0"))
    # checkpoints kept on disk (newest); older ones are deleted
    keep_checkpoints: int = field(default=3, metadata=_check(_positive, "must be > 0"))
    # training waits until this many moves are loaded
    min_buffer_moves: int = field(default=3000, metadata=_check(_positive, "must be > 0"))
    # samples trained per env move loaded (step x batch_size / env moves): the trainer never gets
    # ahead of it (it waits for games) and, with pin_replay_ratio, self-play waits when the trainer is
    # behind, so that learning depends on env moves, not on the machine's speed (0: neither; train freely)
    replay_ratio: float = field(default=8.0, metadata=_check(_non_negative, "must be >= 0"))
    # hold replay_ratio from both sides (self-play waits for a trainer that is behind);
    # false: the ratio is only a cap and self-play runs at full speed
    pin_replay_ratio: bool = True
    # keep a checkpoint at every this many env moves in checkpoints/curve/ (never deleted): the points
    # of a learning curve by env moves (0: none)
    curve_every_moves: int = field(default=0, metadata=_check(_non_negative, "must be >= 0"))
    # seconds between status lines
    status_interval: float = field(default=10.0, metadata=_check(_positive, "must be > 0"))
    # "cpu", "cuda" or "auto"
    device: str = field(default="auto", metadata=_one_of("cpu", "cuda", "auto"))
    # torch threads of the trainer; auto: `run`'s plan shares the cores between it and self-play
    # (processes/plan.py; a trainer started alone: 1); 0: torch's default
    threads: typing.Union[int, str] = field(default="auto", metadata=_check(
        lambda v: v == "auto" or (isinstance(v, int) and v >= 0), "must be a number >= 0 or auto"))
    # torch threads of the trainer while it asks self-play to wait (the workers' cores are idle then);
    # auto: `run`'s plan (all the cores on a CPU); 0: train.threads
    catch_up_threads: typing.Union[int, str] = field(default="auto", metadata=_check(
        lambda v: v == "auto" or (isinstance(v, int) and v >= 0), "must be a number >= 0 or auto"))


@dataclass(frozen=True)
class EvalConfig:
    """Greedy eval games (`muzero-lite eval`, the benchmarks' curves): their starts and the weights they play."""
    # up to this many no-op moves (drawn per game) before greedy play starts
    noop_max: int = field(default=30, metadata=_check(_non_negative, "must be >= 0"))
    # after the no-op start, each move repeats the previous one with this probability (sticky
    # actions, Machado et al. 2018, here per move rather than per frame), so that greedy games on a
    # deterministic emulator are samples, not replays (0: off; Gymnasium envs get distinct starts
    # from their seeded resets anyway)
    sticky_actions: float = field(default=0.25, metadata=_check(lambda v: 0 <= v < 1, "must be in [0, 1)"))
    # eval plays an exponential moving average of the weights with this half-life in training steps,
    # kept beside the newest weights in each checkpoint; self-play and training use the newest weights,
    # whose greedy play swings widely between checkpoints (0: eval plays the newest)
    ema_half_life: float = field(default=700.0, metadata=_check(_non_negative, "must be >= 0"))


@dataclass(frozen=True)
class PathsConfig:
    """Folders of the loop, relative to the run directory (the current one unless --run-dir)."""
    games: str = "games"
    gifs: str = "gifs"
    checkpoints: str = "checkpoints"
    # newest game files kept in games/ (0: all); the trainer deletes older ones once it has listed them
    # (read into replay, or skipped as older than the replay window), and says so once.
    # 20000 is ~1 GB of Mario games (~50 KB each), ~100x the replay window, so that a week-long run
    # neither fills the disk nor makes the trainer's once-a-second listing slow
    keep_games: int = field(default=20000, metadata=_check(_non_negative, "must be >= 0"))
    # GB the game files in games/ may take (0: no limit); the trainer deletes the oldest listed ones beyond it
    keep_games_gb: float = field(default=0.0, metadata=_check(_non_negative, "must be >= 0"))
    # newest game gifs (game-*.gif) kept in gifs/ (0: all); each worker deletes older ones, never eval
    # gifs. 1000 is ~300 MB of Mario gifs (~0.3 MB each)
    keep_gifs: int = field(default=1000, metadata=_check(_non_negative, "must be >= 0"))


@dataclass(frozen=True)
class Config:
    """The whole run: one object, made by load_config."""
    env: EnvConfig = field(default_factory=EnvConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    selfplay: SelfplayConfig = field(default_factory=SelfplayConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    # seed of every random generator of the run (workers add their index)
    seed: int = 0


# Keys of earlier versions: a config that still uses one gets a one-line error naming the new key.
RENAMED_KEYS = {
    "search.num_searches": "search.root_actions (the number of root actions searched)",
    "train.discount": "env.discount (a property of the game, used by search and targets)",
    "train.max_replay_ratio": "train.replay_ratio (samples trained per env move; train.pin_replay_ratio false "
                              "makes it a cap only, as max_replay_ratio was)",
    "selfplay.envs": "selfplay.games_in_flight (games one worker plays at once)",
    "selfplay.eval_noop_max": "eval.noop_max (the eval section holds the eval settings)",
    "selfplay.eval_sticky": "eval.sticky_actions (the eval section holds the eval settings)",
    "train.eval_ema_half_life": "eval.ema_half_life (the eval section holds the eval settings)",
}
# Options measured without a win and removed (docs/experiments.md has their tables; git tag
# notebook-2026-12-05 is the last commit with them): a config that sets one gets a one-line error.
REMOVED_KEYS = ("network.patch_size", "train.reanalyze", "train.reanalyze_values", "train.augment_shift",
                "train.consistency_weight")
# Values of earlier versions, by key: the same one-line error naming the new value.
RENAMED_VALUES = {
    ("search.q_rule", "seed"): "mean",
    ("search.q_rule", "orig"): "mean",
    ("search.policy_target", "seed"): "normalised_q",
    ("search.policy_target", "orig"): "normalised_q",
    ("search.root_actions", "top"): "root_actions is now the number of root actions searched; "
                                    "put top in search.root_selection",
    ("search.root_actions", "sample"): "root_actions is now the number of root actions searched; "
                                       "put sample in search.root_selection",
}


# ---------------------------------------------------------------- building from a dict

def _type_name(t: Any) -> str:
    """A type's name for error messages."""
    return getattr(t, "__name__", str(t))


def _convert(value: Any, hint: Any, where: str, src: str) -> Any:
    """Check value against the type hint (bool, int, float, str, list, Optional, dataclass)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        for a in args[:-1]:            # the first type the value fits (bool | str: true, false or a word)
            try:
                return _convert(value, a, where, src)
            except ConfigError:
                pass
        return _convert(value, args[-1], where, src)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{src}: {where} = {value!r}: must be a mapping")
        return _build(hint, value, where, src)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{src}: {where} = {value!r}: must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{src}: {where} = {value!r}: must be an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{src}: {where} = {value!r}: must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{src}: {where} = {value!r}: must be a string")
        return value
    if hint is list:
        if not isinstance(value, list):
            raise ConfigError(f"{src}: {where} = {value!r}: must be a list")
        return value
    raise TypeError(f"unsupported config type {_type_name(hint)} at {where}")


def _build(cls: type, data: dict, prefix: str, src: str) -> Any:
    """Make dataclass cls from a mapping, rejecting unknown keys with a hint."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if where in RENAMED_KEYS:
            raise ConfigError(f"{src}: {where}: renamed {RENAMED_KEYS[where]}")
        if where in REMOVED_KEYS:
            raise ConfigError(f"{src}: {where}: removed, measured without a win (docs/experiments.md); "
                              f"delete the key")
        if isinstance(value, str) and (where, value) in RENAMED_VALUES:
            now = RENAMED_VALUES[(where, value)]
            why = now if " " in now else f"renamed {now!r}"
            raise ConfigError(f"{src}: {where} = {value!r}: {why}")
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(names)})"
            raise ConfigError(f"{src}: {where}: unknown key{hint}")
        try:
            kwargs[key] = _convert(value, hints[key], where, src)
        except ConfigError:
            why = next(f.metadata.get("why") for f in dataclasses.fields(cls) if f.name == key)
            if why and len([a for a in typing.get_args(hints[key]) if a is not type(None)]) > 1:
                raise ConfigError(f"{src}: {where} = {value!r}: {why}") from None   # bool | str: say which values
            raise
    for f in dataclasses.fields(cls):
        check = f.metadata.get("check")
        if check is not None and f.name in kwargs and kwargs[f.name] is not None and not check(kwargs[f.name]):
            where = f"{prefix}.{f.name}" if prefix else f.name
            raise ConfigError(f"{src}: {where} = {kwargs[f.name]!r}: {f.metadata['why']}")
    return cls(**kwargs)


def _validate_env(env: EnvConfig, src: str) -> EnvConfig:
    """Cross-field checks of the env section; returns it with list fields normalised."""
    if len(env.frame_size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in env.frame_size):
        raise ConfigError(f"{src}: env.frame_size = {env.frame_size!r}: must be [height, width], two positive integers")
    if env.frame_skip % env.frames_per_move:
        raise ConfigError(f"{src}: env.frames_per_move = {env.frames_per_move!r}: must divide env.frame_skip ({env.frame_skip})")
    if env.is_mario:
        if env.scale_observations:
            raise ConfigError(f"{src}: env.scale_observations = true: Gymnasium vector observations only, not {MARIO_ID}")
        if not env.levels:
            raise ConfigError(f"{src}: env.levels = []: must name at least one level, e.g. [\"1-1\"]")
        for key in ("levels", "held_out_levels"):
            for level in getattr(env, key):
                if not isinstance(level, str) or not LEVEL_RE.match(level):
                    raise ConfigError(f"{src}: env.{key} = {level!r}: unknown Mario level (world 1-8, stage 1-4, e.g. \"1-1\")")
        both = sorted(set(env.levels) & set(env.held_out_levels))
        if both:
            raise ConfigError(f"{src}: env.held_out_levels = {env.held_out_levels!r}: {', '.join(both)} also in env.levels "
                              f"(a held-out level is never played in self-play)")
    else:
        if env.held_out_levels:
            raise ConfigError(f"{src}: env.held_out_levels = {env.held_out_levels!r}: Mario only (Gymnasium envs have "
                              f"no levels), use [] for {env.id!r}")
        if env.stall_moves:
            raise ConfigError(f"{src}: env.stall_moves = {env.stall_moves!r}: Mario only (it watches Mario's x), "
                              f"use 0 for {env.id!r}")
        try:
            import gymnasium
            gymnasium.spec(env.id)
        except Exception:  # gymnasium raises several kinds of not-found errors
            raise ConfigError(f"{src}: env.id = {env.id!r}: unknown env id (use {MARIO_ID!r} or a registered Gymnasium id)") from None
    return env


def _validate(cfg: Config, src: str) -> Config:
    """Checks that span fields or sections."""
    env = _validate_env(cfg.env, src)
    temps = []
    for i, row in enumerate(cfg.search.temperature):
        where = f"search.temperature[{i}]"
        if not isinstance(row, (dict, TemperatureStep)):
            raise ConfigError(f"{src}: {where} = {row!r}: must be a mapping with until, early, late")
        t = row if isinstance(row, TemperatureStep) else _build(TemperatureStep, row, where, src)
        if t.early < 0 or t.late < 0:
            raise ConfigError(f"{src}: {where} = {row!r}: inverse temperatures must be >= 0")
        temps.append(t)
    if not temps or temps[-1].until is not None:
        raise ConfigError(f"{src}: search.temperature = {cfg.search.temperature!r}: must end with a row whose until is null")
    if any(t.until is None for t in temps[:-1]):
        raise ConfigError(f"{src}: search.temperature = {cfg.search.temperature!r}: only the last row may have until null")
    search = dataclasses.replace(cfg.search, temperature=temps)
    if env.is_mario and cfg.network.kind != "conv":
        raise ConfigError(f"{src}: network.kind = {cfg.network.kind!r}: Mario observations are images, use conv")
    if cfg.train.observation_weight > 0 and cfg.network.kind != "mlp":
        raise ConfigError(f"{src}: train.observation_weight = {cfg.train.observation_weight!r}: vector observations "
                          f"only (network.kind mlp), not {cfg.network.kind}")
    return dataclasses.replace(cfg, env=env, search=search)


def config_from_dict(data: Any, src: str = "<config>") -> Config:
    """Build and validate a Config from a parsed YAML mapping; src names the file in errors."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{src}: top level = {data!r}: must be a mapping of sections")
    return _validate(_build(Config, data, "", src), src)


def load_config(path: str | os.PathLike) -> Config:
    """Read a YAML file into a validated Config; every failure is a one-line ConfigError."""
    src = str(path)
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ConfigError(f"{src}: file not found") from None
    except OSError as e:
        raise ConfigError(f"{src}: cannot read: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "invalid YAML"
        raise ConfigError(f"{src}: YAML syntax error{at}: {problem}") from None
    return config_from_dict(data, src)


# ---------------------------------------------------------------- saving and digests

def config_to_dict(cfg: Config) -> dict:
    """Plain mapping of the resolved config (every default filled in)."""
    return dataclasses.asdict(cfg)


def config_to_yaml(cfg: Config) -> str:
    """The resolved config as YAML text, in field order."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)


def _digest(obj: Any) -> str:
    """16 hex digits of the SHA-256 of obj as canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def config_digest(cfg: Config) -> str:
    """Digest of the whole resolved config."""
    return _digest(config_to_dict(cfg))


def model_digest(cfg: Config) -> str:
    """Digest of what fixes the networks' shapes: a checkpoint loads only where this matches."""
    e = cfg.env
    shape = {k: getattr(e, k) for k in ("id", "action_set", "frames_per_move", "frame_size", "grayscale", "stack_moves")}
    if not e.is_mario:
        shape.pop("action_set")
    if not e.action_history:          # only where it differs from the default: earlier digests stay as they were
        shape["action_history"] = False
    return _digest({"env": shape, "network": dataclasses.asdict(cfg.network)})


def temperature_at(cfg: SearchConfig, training_step: int, move: int) -> float:
    """Inverse temperature of action sampling at a training step and move of a game."""
    for row in cfg.temperature:
        if row.until is None or training_step < row.until:
            return row.early if move < cfg.late_move else row.late
    raise AssertionError("validated schedules end with until: null")
