"""How `muzero-lite run` shares the machine: self-play workers, the trainer's threads and its batch.

A pure rule (`make_plan`) from the cores, whether the trainer has a GPU, and speeds measured at the
run's start (`speed_probe`); what the user set (--workers, train.threads, train.batch_size) stays.

At a pinned replay ratio r, every env move costs self-play 1/W core-seconds (W: one worker's moves/s
on one core, its games in flight together) and the trainer r/T (T: its samples/s on one thread at the
base batch), so the trainer's share of the work is f = (r/T) / (r/T + 1/W).

- CPU only, C cores: the trainer gets round(f C) threads (at least 1) and the other cores one worker
  each (at least 1): never more busy threads than cores, since a trainer thread that loses its core
  holds up the others (measured: a 2-thread trainer beside a worker on 2 cores made 0.92x the moves/s
  of a 1-thread one, docs/experiments.md). While the trainer has asked self-play to wait, the workers'
  cores are idle, so it trains with all C threads then (train.catch_up_threads). (With
  train.replay_ratio 0 or unpinned, f = 1/2.)
- A GPU for the trainer: it keeps one thread on one core to feed the GPU, and C - 1 cores play.
- The batch, where train.batch_size is auto: of 64, 128, 256 (BASE_BATCH times 1, 2, 4) the one with
  the most samples/s measured on the trainer's device and threads. A batch k times the base trains
  the same samples per env move in k times fewer steps, so the learning rate is multiplied by sqrt(k)
  (the square-root rule for Adam) and what is counted in training steps (train.checkpoint_interval,
  eval.ema_half_life, search.temperature's rows) is divided by k: each keeps its length in samples
  (`planned_config`). 256 learned as well as 64 at matched env moves (docs/experiments.md). `run`
  writes the planned config to its folder (PLANNED_CONFIG) and starts every child with it, so that
  the trainer and the workers count alike. A run that resumes from a checkpoint keeps the batch it was
  planned with (`kept_batch`): the trainer counts its samples as steps x batch and its schedules in
  steps, so a batch measured again (it differs from start to start on a loaded machine) would shift
  its replay ratio and schedules.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from ..config import BASE_BATCH, Config
from ..data.checkpoints import list_checkpoints

# the batches the plan may pick, as multiples of BASE_BATCH
BATCH_FACTORS = (1, 2, 4)
# `run`'s planned config in the checkpoints folder: the config every child of the run is started with
PLANNED_CONFIG = "run_config.yaml"


@dataclass(frozen=True)
class Speeds:
    """What the run's start measured (None: not needed, so not measured)."""
    selfplay_moves_per_s: Optional[float] = None     # one worker on one core, its games in flight together
    trainer_samples_per_s: Optional[float] = None    # the trainer on one thread (CPU) at BASE_BATCH
    # samples/s by batch size, on the trainer's device with the planned threads
    batch_samples_per_s: Optional[dict[int, float]] = None


@dataclass(frozen=True)
class Plan:
    """How the run shares the machine; `set_by_user` names what the user fixed."""
    cores: int
    gpu: bool
    workers: int
    games_in_flight: int
    trainer_threads: int
    batch_size: int
    trainer_share: Optional[float]                  # f, the trainer's share of the work (None: not measured)
    catch_up_threads: int = 0                       # the trainer's threads while self-play waits (0: as many)
    set_by_user: tuple[str, ...] = ()
    speeds: Speeds = Speeds()
    batch_kept: bool = False                        # the batch of the run's earlier start (`kept_batch`)

    def line(self, cfg: Config) -> str:
        """The plan in one line, as `run` prints it."""
        def n(count: int, what: str, key: str) -> str:
            return f"{count} {what}{'s' * (count != 1)}" + (" (yours)" if key in self.set_by_user else "")
        catch_up = (f" ({self.catch_up_threads} while self-play waits)"
                    if self.catch_up_threads > self.trainer_threads else "")
        parts = [f"{n(self.workers, 'self-play worker', 'workers')} x {self.games_in_flight} games in flight",
                 f"trainer {n(self.trainer_threads, 'thread', 'threads')}{catch_up} on "
                 f"{'cuda' if self.gpu else 'cpu'}, {n(self.batch_size, 'sample', 'batch_size')} a step"
                 + (" (kept from the run's earlier start)" if self.batch_kept else "")]
        if self.batch_size != BASE_BATCH and cfg.train.batch_size == "auto":
            t = planned_config(cfg, self.trainer_threads, self.batch_size, self.catch_up_threads).train
            parts[-1] += f" (lr {t.lr:.3g}, a checkpoint every {t.checkpoint_interval} steps)"
        sp = self.speeds
        if self.trainer_share is not None:
            parts.append(f"measured: a worker {sp.selfplay_moves_per_s:.0f} moves/s, the trainer "
                         f"{sp.trainer_samples_per_s:.0f} samples/s a thread, so it does "
                         f"{100 * self.trainer_share:.0f}% of the work at ratio {cfg.train.replay_ratio:g}")
        if sp.batch_samples_per_s:
            parts.append("samples/s by batch " + ", ".join(f"{b}: {v:.0f}" for b, v in sp.batch_samples_per_s.items()))
        where = f"{n(self.cores, 'core', '')}, {'a GPU' if self.gpu else 'no GPU'}"
        return f"[run] plan for {where}: " + "; ".join(parts)


def trainer_share(ratio: float, selfplay_moves_per_s: float, trainer_samples_per_s: float) -> float:
    """f: the trainer's share of the core-seconds an env move costs at replay ratio `ratio` (0: 1/2)."""
    if ratio <= 0:
        return 0.5
    train = ratio / trainer_samples_per_s
    return train / (train + 1.0 / selfplay_moves_per_s)


def split_cores(cores: int, share: float, workers: Optional[int] = None,
                threads: Optional[int] = None) -> tuple[int, int]:
    """(workers, trainer threads) on `cores` CPU cores for a trainer doing `share` of the work: round(share x
    cores) threads and a worker on each other core, at least one of each; a given value stays, and the
    other takes the cores left (at least 1)."""
    if workers is not None and threads is not None:
        return workers, threads
    if workers is not None:
        return workers, max(1, cores - workers)
    if threads is not None:
        return max(1, cores - threads), threads
    want_threads = min(max(1, round(share * cores)), max(1, cores - 1))
    return max(1, cores - want_threads), want_threads


def pick_batch(samples_per_s: dict[int, float]) -> int:
    """The batch with the most samples/s (the smaller one of a tie)."""
    best = max(samples_per_s.values())
    return min(b for b, s in samples_per_s.items() if s == best)


def cores_for(cfg: Config, cores: int, gpu: bool, speeds: Speeds,
              workers: Optional[int] = None) -> tuple[int, int, Optional[float]]:
    """(workers, trainer threads, the trainer's share f or None) for cfg on `cores` cores; --workers and a
    number in train.threads stay. ValueError when the speeds it needs were not measured."""
    threads = None if cfg.train.threads == "auto" else cfg.train.threads
    if gpu:
        return workers or max(1, cores - 1), threads or 1, None
    if workers is not None or threads is not None:          # the other takes the cores left
        return (*split_cores(cores, 0.5, workers, threads), None)
    if speeds.selfplay_moves_per_s is None or speeds.trainer_samples_per_s is None:
        raise ValueError("the plan needs self-play's and the trainer's speeds")
    t = cfg.train
    share = trainer_share(t.replay_ratio if t.pin_replay_ratio else 0.0, speeds.selfplay_moves_per_s,
                          speeds.trainer_samples_per_s)
    return (*split_cores(cores, share, workers, threads), share)


def make_plan(cfg: Config, cores: int, gpu: bool, speeds: Speeds, workers: Optional[int] = None,
              kept: Optional[int] = None) -> Plan:
    """The plan for a run of cfg on `cores` cores (a GPU for the trainer or not), from the measured speeds.

    workers: --workers (None: planned). train.threads and train.batch_size auto are planned; numbers
    stay. kept: the batch of the run's earlier start (`kept_batch`), which an auto batch keeps.
    ValueError when a speed the plan needs was not measured (`needs` says which)."""
    t = cfg.train
    user = tuple(name for name, given in (("workers", workers is not None), ("threads", t.threads != "auto"),
                                          ("batch_size", t.batch_size != "auto")) if given)
    workers, threads, share = cores_for(cfg, cores, gpu, speeds, workers)
    batch = t.batch_size
    batch_kept = batch == "auto" and kept is not None
    if batch_kept:
        batch = kept
    elif batch == "auto":
        if not speeds.batch_samples_per_s:
            raise ValueError("the plan needs the trainer's samples/s by batch")
        batch = pick_batch(speeds.batch_samples_per_s)
    catch_up = cfg.train.catch_up_threads
    catch_up = (cores if not gpu and threads > 0 else 0) if catch_up == "auto" else catch_up
    return Plan(cores, gpu, workers, cfg.selfplay.games_in_flight, threads, batch, share, catch_up, user, speeds,
                batch_kept)


def needs(cfg: Config, gpu: bool, workers: Optional[int], kept: Optional[int] = None) -> tuple[bool, bool]:
    """What make_plan will need measured: (self-play's and the one-thread trainer's speeds, samples/s by batch)."""
    split = not gpu and workers is None and cfg.train.threads == "auto"
    return split, cfg.train.batch_size == "auto" and kept is None


def kept_batch(checkpoints: Path) -> Optional[int]:
    """The batch a resumed run keeps: the one in the planned config of the run's earlier start, where the
    folder holds a checkpoint of it (None: a new run, or no readable planned batch; the plan measures)."""
    if not list_checkpoints(checkpoints):
        return None
    try:
        batch = yaml.safe_load((Path(checkpoints) / PLANNED_CONFIG).read_text())["train"]["batch_size"]
    except (OSError, yaml.YAMLError, KeyError, TypeError):
        return None
    return batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else None


def planned_config(cfg: Config, threads: Optional[int] = None, batch: Optional[int] = None,
                   catch_up: Optional[int] = None) -> Config:
    """cfg as a run's processes use it: the trainer's threads, batch and catch-up threads as given (None: the
    config's; auto: 1 thread, BASE_BATCH, 0). Where the config's batch is auto, a batch k x BASE_BATCH
    multiplies lr by sqrt(k) and divides what is counted in training steps by k (train.checkpoint_interval,
    eval.ema_half_life, the rows of search.temperature), so that each keeps its length in samples."""
    t = cfg.train
    threads = threads if threads is not None else (1 if t.threads == "auto" else t.threads)
    batch = batch if batch is not None else (BASE_BATCH if t.batch_size == "auto" else t.batch_size)
    catch_up = catch_up if catch_up is not None else (0 if t.catch_up_threads == "auto" else t.catch_up_threads)
    train, search, ev = {"threads": threads, "batch_size": batch, "catch_up_threads": catch_up}, {}, {}
    if t.batch_size == "auto" and batch != BASE_BATCH:
        k = batch / BASE_BATCH
        train.update(lr=t.lr * math.sqrt(k), checkpoint_interval=max(1, round(t.checkpoint_interval / k)))
        ev["ema_half_life"] = cfg.eval.ema_half_life / k
        search["temperature"] = [dataclasses.replace(row, until=row.until and max(1, round(row.until / k)))
                                 for row in cfg.search.temperature]
    return dataclasses.replace(cfg, train=dataclasses.replace(t, **train), eval=dataclasses.replace(cfg.eval, **ev),
                               search=dataclasses.replace(cfg.search, **search))
