"""Acting: games played with a model and the truncated search, move by move.

Used alike by self-play (sampled moves, a record to learn from), evaluation (greedy moves from
no-op starts with sticky actions, or a random agent to compare with) and the benchmarks. A model is anything with
initial_inference / recurrent_inference (`networks.MuZeroNetworks`, `networks.UniformModel`).
Many games can be played at once, one per env (`play_games`): every move, the games that search
share one batched network call per search step, which costs little more than one game's.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator, NamedTuple, Optional

import numpy as np
import torch
from PIL import Image

from ..algorithm.exploration import HeldExploration, game_epsilon
from ..algorithm.observations import stack_observations
from ..algorithm.search import Rngs, sample_policy, select_actions, truncated_search
from ..algorithm.types import GameRecord, GameSpec, InferenceOutput, SearchResult
from ..config import Config, temperature_at
from ..envs.base import Env
from ..reporting.gifs import Annotation, annotate, gif_frame, same_height, shrink_frame

# Mario's action 0 is NOOP in every action set
NOOP = 0


class GameArrays:
    """The arrays of one game as it is played (room for max_moves), cut to its length at the end."""

    def __init__(self, cap: int, spec: GameSpec, first_frames: np.ndarray):
        a = spec.num_actions
        self.frames = np.zeros((cap,) + tuple(spec.frame_shape), dtype=spec.frame_dtype)   # [T, *frame_shape]
        self.actions = np.zeros(cap, dtype=np.int64)                                   # [T]
        self.rewards = np.zeros(cap, dtype=np.float32)                                 # [T]
        self.root_values = np.zeros(cap, dtype=np.float32)                             # [T]
        self.policies = np.full((cap, a), 1.0 / a, dtype=np.float32)                   # [T, A] uniform unless searched
        self.frames[0] = first_frames

    def observation(self, t: int, stack_moves: int, action_history: bool = True) -> torch.Tensor:
        """The network input at position t: [1, *input_shape]."""
        return torch.from_numpy(stack_observations(self.frames, self.actions, np.array([t]), stack_moves,
                                                   self.policies.shape[1], action_history=action_history))

    def moved(self, t: int, action: int, reward: float, next_frames: np.ndarray) -> None:
        """Record move t and the frames it led to (position t+1, if there is room)."""
        self.actions[t], self.rewards[t] = action, reward
        if t + 1 < len(self.frames):
            self.frames[t + 1] = next_frames

    def record(self, length: int, meta: dict) -> GameRecord:
        """The finished game's record (copies of the first `length` moves)."""
        return GameRecord(self.frames[:length].copy(), self.actions[:length].copy(), self.rewards[:length].copy(),
                          self.root_values[:length].copy(), self.policies[:length].copy(), meta)


class SearchStats:
    """How the search behaved over a game (docs/experiments.md's exploration diagnosis): the policy's
    entropy, how often search overruled it, the prior's mass on the move played, the spread of the
    searched Q against the value's scale, and how many moves the explorer played."""

    def __init__(self):
        self.searches, self.changed, self.explored = 0, 0, 0
        self.sums = {"policy_entropy": 0.0, "chosen_prior": 0.0, "q_spread": 0.0, "value_scale": 0.0}

    def add(self, searched: "Searched", action: int, explored: bool) -> None:
        """Count one searched position, where `action` was played (by the explorer when explored)."""
        self.searches += 1
        self.changed += int(searched.changed)
        self.explored += int(explored)
        for key, x in (("policy_entropy", searched.entropy), ("chosen_prior", float(searched.prior[action])),
                       ("q_spread", searched.q_spread), ("value_scale", abs(float(searched.root.value[0])))):
            self.sums[key] += x

    def meta(self) -> dict:
        """Means over the searched positions (None without search): policy_entropy, nats of the policy's
        softmax; search_changed, the share where the search's best action was not the policy's first
        choice; chosen_prior, the policy's probability of the move played; q_spread, max - min of the
        searched actions' Q; value_scale, |the network's root value|. explored: moves the explorer played."""
        n = self.searches
        means = {key: total / n if n else None for key, total in self.sums.items()}
        return {**means, "search_changed": self.changed / n if n else None, "explored": self.explored}


def entropy_and_probs(logits: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """[B, A] logits -> ([B] entropy in nats of each row's softmax, [B, A] the softmax itself)."""
    logp = torch.log_softmax(logits.double(), dim=1)
    p = logp.exp()
    return (-(p * logp).sum(1)).numpy(), p.numpy()


class Searched(NamedTuple):
    """What the search said at one game's position (batches of one), and facts about it (`SearchStats`)."""
    root: InferenceOutput
    result: SearchResult
    # nats of the policy's softmax, and whether the search's best action was not the policy's first choice
    entropy: float
    changed: bool
    # [A] the policy's softmax, and max - min of the searched actions' Q
    prior: np.ndarray
    q_spread: float


def infer_and_search(model, obs: torch.Tensor, cfg: Config,
                     sample_rng: Optional[Rngs]) -> tuple[InferenceOutput, SearchResult]:
    """The root's initial inference and the truncated search from it (docs/algorithm.md §3)."""
    s = cfg.search
    root = model.initial_inference(obs)
    result = truncated_search(root, model.recurrent_inference, root_actions=s.root_actions,
                              search_depth=s.search_depth, discount=cfg.env.discount, q_rule=s.q_rule,
                              sample_rng=sample_rng, policy_target=s.policy_target, root_value=s.root_value)
    return root, result


def capture(env: Env) -> Optional[Image.Image]:
    """The current screen as a gif frame (palette image at gif size), or None when the env cannot render."""
    frame = env.render_rgb()
    return None if frame is None else gif_frame(frame)


class GifFrames:
    """The gif frames of one game (none when off).

    Bare frames become palette images when captured. Annotated ones are held in colour at gif size
    until the move from that screen is played, then get their strip (`gifs.annotate`) and become
    palette images: one colour frame at a time, whatever the game's length.
    """

    def __init__(self, env: Env, on: bool, annotated: bool, mario: bool):
        self.env, self.on, self.annotated, self.mario = env, on, annotated, mario
        self.names = env.action_names if on and annotated else []
        self.frames: list[Image.Image] = []
        self.screen: Optional[np.ndarray] = None      # the held colour screen [h, w, 3], not yet annotated
        self.where: dict = {}                         # Mario's x and flag on the held screen

    def capture(self, info: dict) -> None:
        """Take the current screen, the position before the next move (info: the env's info there)."""
        if not self.on:
            return
        if not self.annotated:
            frame = capture(self.env)
            self.frames += [frame] if frame is not None else []
            return
        frame = self.env.render_rgb()
        self.screen = None if frame is None else shrink_frame(frame)
        self.where = {"x": int(info.get("x_pos", 0)), "flag": bool(info.get("flag", False))} if self.mario else {}

    def moved(self, t: int, action: int, reward: float, note: str,
              root: Optional[InferenceOutput], result: Optional[SearchResult]) -> None:
        """Annotate the held screen with move t, what the search said there (if it ran) and the reward."""
        if self.screen is None:
            return
        searched, chosen, value = [], None, None
        if result is not None:
            ids = [int(a) for a in result.searched[0]]
            searched = [(self.names[a], float(result.q[0, a])) for a in ids]
            chosen = ids.index(action) if action in ids else None
            value = float(root.value[0])
        self._finish(Annotation(t, self.names[action], note, searched, chosen, value, reward, **self.where))

    def end(self, t: int, total: float, info: dict) -> list[Image.Image]:
        """Annotate the last screen with the game's end and return; the frames, all of one size."""
        if self.screen is not None:
            note = "stalled" if info.get("stalled") else "time limit" if info.get("truncated") else ""
            self._finish(Annotation(t, note=note, total=total, **self.where))
        return same_height(self.frames)

    def _finish(self, ann: Annotation) -> None:
        """The held screen with ann's strip, as a palette frame."""
        self.frames.append(gif_frame(annotate(self.screen, ann), len(self.frames)))
        self.screen = None


class Game:
    """One game in flight: its env, generator, model, arrays, gif frames and counters.

    A game draws every random number it needs (its level or env seed, its random moves, its
    sampled root actions and moves) from its own generator, so it plays the same whether it runs
    alone or beside other games in one batch (`play_moves`), up to the float rounding of batched
    network calls.
    """

    def __init__(self, env: Env, model, cfg: Config, rng: np.random.Generator, training_step: int = 0,
                 greedy: bool = False, noop_moves: int = 0, render: bool = False, random_agent: bool = False,
                 sticky: float = 0.0):
        e = cfg.env
        self.env, self.model, self.cfg, self.rng = env, model, cfg, rng
        self.training_step, self.greedy, self.noop_moves, self.random_agent = training_step, greedy, noop_moves, random_agent
        self.sticky, self.last_action = sticky, NOOP
        first, self.info = env.reset(rng)
        self.arrays = GameArrays(e.max_moves, env.spec, first)
        self.gif = GifFrames(env, render, cfg.selfplay.annotate_gifs, e.is_mario)
        self.gif.capture(self.info)
        self.random_moves = int(rng.integers(0, e.initial_random_moves + 1)) if e.initial_random_moves else 0
        self.sampling = cfg.search.root_selection == "sample" and not greedy
        p = cfg.selfplay
        self.explorer = (HeldExploration(game_epsilon(rng, p.explore_epsilon, p.explore_spread), p.explore_hold_mu,
                                         env.num_actions, e.max_moves)
                         if p.explore_epsilon > 0 and not (greedy or random_agent) else None)
        self.stats = SearchStats()
        self.total, self.max_x, self.t, self.done = 0.0, self.info.get("x_pos", 0), 0, False
        self.started = time.time()

    @property
    def over(self) -> bool:
        """The game ended, or reached max_moves."""
        return self.done or self.t >= self.cfg.env.max_moves

    @property
    def searches(self) -> bool:
        """Whether the next move is searched (not a no-op start, not the random agent)."""
        return not (self.t < self.noop_moves or self.random_agent)

    def observation(self) -> torch.Tensor:
        """The network input at the current position: [1, *input_shape]."""
        return self.arrays.observation(self.t, self.cfg.env.stack_moves, self.cfg.env.action_history)

    def move(self, searched: Optional[Searched] = None) -> None:
        """Choose and play one move; searched: what this game's search said, when it searches."""
        s, game, note = self.cfg.search, self.arrays, ""
        root, result = searched[:2] if searched is not None else (None, None)
        if self.t < self.noop_moves:
            action, note = NOOP, "no-op start"
        elif self.random_agent:
            action, note = int(self.rng.integers(self.env.num_actions)), "random agent"
        else:
            game.root_values[self.t], game.policies[self.t] = result.root_value[0], result.policy[0]
            explored = None
            if self.t < self.random_moves:
                action, note = int(self.rng.integers(self.env.num_actions)), "random move"
            elif self.explorer is not None and (explored := self.explorer.next(self.rng)) is not None:
                action, note = explored, "held random"
            elif s.move_rule == "target":           # greedy: the target's best move (Gumbel MuZero's final choice)
                action = int(result.policy[0].argmax() if self.greedy else sample_policy(result.policy, self.rng)[0])
            else:
                inv_t = temperature_at(s, self.training_step, self.t)
                action = int(select_actions(result.normalised_q, inv_t, self.rng, greedy=self.greedy)[0])
            self.stats.add(searched, action, explored is not None)
        if self.sticky and self.t >= self.noop_moves and self.rng.random() < self.sticky:
            action, note = self.last_action, "sticky"          # the previous move again (sticky actions)
        self.last_action = action
        nxt, reward, self.done, self.info = self.env.step(action)
        game.moved(self.t, action, reward, nxt)
        self.total += reward
        self.max_x = max(self.max_x, self.info.get("x_pos", 0))
        self.gif.moved(self.t, action, reward, note, root, result)
        self.t += 1
        self.gif.capture(self.info)

    def finish(self) -> tuple[GameRecord, list[Image.Image]]:
        """The ended game's record and its gif frames (empty when not rendered)."""
        e, info, t = self.cfg.env, self.info, self.t
        meta = {
            "env": e.id, "level": info.get("level"), "moves": t, "return": float(self.total),
            "max_x": int(self.max_x) if e.is_mario else None, "flag": bool(info.get("flag", False)),
            "terminated": bool(info.get("terminated", self.done)), "stalled": bool(info.get("stalled", False)),
            "death": info.get("death"),
            "training_step": int(self.training_step),
            "wall_time": time.time() - self.started, "greedy": self.greedy, "noop_moves": int(min(self.noop_moves, t)),
            **self.stats.meta(),
        }
        return self.arrays.record(t, meta), self.gif.end(t, self.total, info)


def _row(x, i: int):
    """Row i of a batched InferenceOutput or SearchResult, as a batch of one."""
    return type(x)(*(v[i:i + 1] for v in x))


def play_moves(games: list[Game]) -> None:
    """One move of each game: the games that search share one initial inference and one batched
    truncated search per model (docs/algorithm.md §3), then each plays its move in its env."""
    searched: dict[int, Searched] = {}
    groups: dict[int, list[Game]] = {}
    for g in games:
        if g.searches:
            groups.setdefault(id(g.model), []).append(g)
    for group in groups.values():
        obs = torch.cat([g.observation() for g in group])                             # [n, *input_shape]
        sample_rng = [g.rng for g in group] if group[0].sampling else None
        root, result = infer_and_search(group[0].model, obs, group[0].cfg, sample_rng)
        entropy, prior = entropy_and_probs(root.policy_logits)                            # [n], [n, A]
        changed = result.normalised_q.argmax(1) != root.policy_logits.argmax(1).numpy()  # [n]
        q = np.take_along_axis(result.q, result.searched, axis=1)                      # [n, k] searched Q
        spread = q.max(1) - q.min(1)                                                   # [n]
        for i, g in enumerate(group):
            searched[id(g)] = Searched(_row(root, i), _row(result, i), float(entropy[i]), bool(changed[i]),
                                       prior[i], float(spread[i]))
    for g in games:
        g.move(searched.get(id(g)))


def play_games(envs: list[Env], new_game: Callable[[Env], Optional[Game]],
               before_move: Optional[Callable[[], None]] = None) -> Iterator[Game]:
    """Keep a game in flight on every env, moving all of them together (`play_moves`); yield each
    game as it ends, then start the next on its env with new_game(env) (None: that env rests).
    before_move: called before each move of them all (self-play waits there for the trainer, `pace`)."""
    slots = [new_game(env) for env in envs]
    while any(slots):
        if before_move is not None:
            before_move()
        play_moves([g for g in slots if g is not None])
        for i, g in enumerate(slots):
            if g is not None and g.over:
                yield g
                slots[i] = new_game(envs[i])


def play_game(env: Env, model, cfg: Config, rng: np.random.Generator, training_step: int = 0,
              greedy: bool = False, noop_moves: int = 0, render: bool = True,
              random_agent: bool = False, sticky: float = 0.0) -> tuple[GameRecord, list[Image.Image]]:
    """Play one game to its end; return the record and (if render) its gif frames (`gifs.gif_frame`),
    each with a strip saying what happened there (`GifFrames`) when cfg.selfplay.annotate_gifs.

    Moves are sampled from softmax(t * normalised Q) with the schedule's inverse temperature t, or
    the argmax when greedy. noop_moves: the first moves are no-ops without search (evaluation's
    random starts). random_agent: every later move is uniformly random, without search (policies
    uniform, root values 0), the baseline that evaluation compares with. sticky: after the no-op
    start, each move is the previous move again with this probability (evaluation's sticky actions).
    """
    game = Game(env, model, cfg, rng, training_step, greedy, noop_moves, render, random_agent, sticky)
    while not game.over:
        play_moves([game])
    return game.finish()
