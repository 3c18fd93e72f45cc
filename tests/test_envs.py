"""Gymnasium envs through the adapter (CartPole, a toy image env, FrozenLake) and the frame helpers."""
from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces

from muzero_lite.config import config_from_dict
from muzero_lite.envs.base import check_action
from muzero_lite.envs.framing import ImageFramer, pool_frames, resize_frame
from muzero_lite.envs.make import game_spec, make_env

PIXELS_ID = "MuzeroLiteTest/Pixels-v0"


class PixelsEnv(gymnasium.Env):
    """Frames [20, 24, 3] filled with 10 * (frame number); ends after `length` frames; reward 1 a frame."""
    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode=None, length=6):
        self.observation_space = spaces.Box(0, 255, (20, 24, 3), np.uint8)
        self.action_space = spaces.Discrete(3)
        self.render_mode = render_mode
        self.length = length
        self.t = 0

    def _obs(self):
        return np.full((20, 24, 3), 10 * self.t, np.uint8)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 1.0, self.t >= self.length, False, {"t": self.t}

    def render(self):
        return self._obs()


if PIXELS_ID not in gymnasium.registry:
    gymnasium.register(PIXELS_ID, entry_point=PixelsEnv)


def gym_env(env_id="CartPole-v1", **env):
    cfg = config_from_dict({"env": {"id": env_id, "frame_skip": 1, "frames_per_move": 1, "reward_scale": 1.0,
                                    "grayscale": False, **env},
                            "network": {"kind": "mlp"}})
    return make_env(cfg.env, seed=0)


def test_cartpole_frames_rewards_and_termination():
    env = gym_env()
    assert env.num_actions == 2 and env.frame_shape == (4,) and env.frame_dtype == np.float32
    rng = np.random.default_rng(0)
    frames, info = env.reset(rng)
    assert frames.shape == (4,) and frames.dtype == np.float32
    assert info["moves"] == 0 and not info["terminated"] and not info["truncated"]
    for move in range(1, 501):
        frames, reward, done, info = env.step(int(rng.integers(2)))
        assert frames.shape == (4,) and frames.dtype == np.float32 and reward == 1.0 and info["moves"] == move
        if done:
            break
    assert done and info["terminated"] and not info["truncated"] and move < 100  # random play falls soon
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.close()


def test_cartpole_max_moves_truncates_and_reward_scale():
    env = gym_env(max_moves=5, reward_scale=0.1)
    env.reset(np.random.default_rng(0))
    for move in range(1, 6):
        _, reward, done, info = env.step(move % 2)  # alternating keeps the pole up for 5 moves
        assert reward == pytest.approx(0.1)
        assert done == (move == 5)
    assert info["truncated"] and not info["terminated"] and info["moves"] == 5
    env.close()


def test_cartpole_frame_skip_sums_rewards():
    env = gym_env(frame_skip=2, frames_per_move=1)
    assert env.frame_shape == (4,)
    env.reset(np.random.default_rng(0))
    _, reward, _, _ = env.step(0)
    assert reward == 2.0
    env.close()


def test_cartpole_every_reset_is_seeded_from_the_games_rng():
    a, b = gym_env(), gym_env()
    fa, _ = a.reset(np.random.default_rng(7))
    b.reset(np.random.default_rng(3))
    b.step(0)
    fb, _ = b.reset(np.random.default_rng(7))  # what b played before does not matter: the rng decides
    fc, _ = b.reset(np.random.default_rng(8))
    assert np.array_equal(fa, fb) and not np.array_equal(fb, fc)
    a.close()
    b.close()


def test_cartpole_render_rgb():
    env = gym_env()
    env.reset(np.random.default_rng(0))
    img = env.render_rgb()
    assert img is not None and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    env.close()


def test_invalid_actions_and_spaces_raise():
    env = gym_env()
    env.reset(np.random.default_rng(0))
    for bad in (2, -1, 0.0, False):
        with pytest.raises(ValueError, match="CartPole-v1"):
            env.step(bad)
    env.close()
    with pytest.raises(ValueError, match="Pendulum-v1.*not Discrete"):
        gym_env("Pendulum-v1")


def test_image_gym_env_pools_and_resizes():
    env = gym_env(PIXELS_ID, frame_skip=4, frames_per_move=2, frame_size=[10, 12])
    assert env.frame_shape == (2, 10, 12, 3) and env.frame_dtype == np.uint8
    frames, _ = env.reset(np.random.default_rng(0))
    assert frames.shape == (2, 10, 12, 3) and (frames == 0).all()
    frames, reward, done, info = env.step(1)  # frames 1..4: max of (1, 2) and of (3, 4)
    assert reward == 4.0 and not done and info["t"] == 4
    assert (frames[0] == 20).all() and (frames[1] == 40).all()
    frames, reward, done, info = env.step(1)  # frames 5, 6, then the game ends: (5, 6) and a repeat
    assert reward == 2.0 and done and info["terminated"]
    assert (frames[0] == 60).all() and (frames[1] == 60).all()
    assert env.render_rgb().shape == (20, 24, 3)
    env.close()


def test_image_gym_env_grey():
    env = gym_env(PIXELS_ID, grayscale=True, frame_size=[20, 24])
    assert env.frame_shape == (1, 20, 24, 1)
    env.reset(np.random.default_rng(0))
    frames, _, _, _ = env.step(0)
    assert frames.shape == (1, 20, 24, 1) and (frames == 10).all()
    env.close()


def test_discrete_observations_are_one_hot():
    env = gym_env("FrozenLake-v1")
    assert env.frame_shape == (16,) and env.num_actions == 4
    frames, _ = env.reset(np.random.default_rng(0))
    assert frames.dtype == np.float32 and frames.sum() == 1.0 and frames[0] == 1.0
    env.close()


def test_pool_frames_groups_and_pads():
    s = [np.full((2, 2, 3), v, np.uint8) for v in (5, 1, 7, 3)]
    pooled = pool_frames(s, group=2, frames_per_move=2)
    assert [int(p.max()) for p in pooled] == [5, 7]
    pooled = pool_frames(s[:1], group=2, frames_per_move=2)  # the game ended after frame 1
    assert [int(p.max()) for p in pooled] == [5, 5]
    pooled = pool_frames(s[:3], group=1, frames_per_move=4)  # ... after frame 3
    assert [int(p.max()) for p in pooled] == [5, 1, 7, 7]
    # per-pixel, per-channel max
    a = np.zeros((1, 2, 3), np.uint8)
    b = a.copy()
    a[0, 0, 0], b[0, 0, 1], b[0, 1, 2] = 9, 8, 7
    assert pool_frames([a, b], 2, 1)[0].tolist() == [[[9, 8, 0], [0, 0, 7]]]
    with pytest.raises(ValueError):
        pool_frames([], 2, 2)


def test_resize_frame_colour_and_grey():
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[..., 0] = 200  # pure red
    out = resize_frame(frame, (12, 16), grayscale=False)
    assert out.shape == (12, 16, 3) and out.dtype == np.uint8 and (out[..., 0] == 200).all()
    grey = resize_frame(frame, (12, 16), grayscale=True)
    assert grey.shape == (12, 16, 1) and abs(int(grey[0, 0, 0]) - round(200 * 0.299)) <= 1
    # a frame already at size is returned unchanged
    assert np.array_equal(resize_frame(frame, (48, 64), grayscale=False), frame)


def test_image_framer_shapes():
    cfg = config_from_dict({"env": {"frame_size": [8, 6], "grayscale": False, "frame_skip": 6, "frames_per_move": 3}}).env
    framer = ImageFramer(cfg, channels_in=3)
    assert framer.group == 2 and framer.shape == (3, 8, 6, 3)
    screens = [np.full((40, 30, 3), 10 * i, np.uint8) for i in range(6)]
    assert framer.move(screens).shape == (3, 8, 6, 3)
    assert framer.still(screens[0]).shape == (3, 8, 6, 3)


def test_check_action():
    assert check_action(np.int32(2), 3, "x") == 2 and check_action(np.array(1), 3, "x") == 1
    with pytest.raises(ValueError, match="env-name.*\\[0, 3\\)"):
        check_action(3, 3, "env-name")


@pytest.mark.parametrize("env", [{"id": "SuperMarioBros"}, {"id": "SuperMarioBros", "action_set": "right_only",
                                                             "grayscale": False, "frame_size": [30, 20]},
                                 {"id": "CartPole-v1", "frame_skip": 1, "frames_per_move": 1},
                                 {"id": PIXELS_ID, "frame_skip": 4, "frames_per_move": 2, "frame_size": [10, 12]}])
def test_game_spec_from_the_config_matches_the_running_env(env):
    cfg = config_from_dict({"env": env, "network": {"kind": "mlp" if env["id"] == "CartPole-v1" else "conv"}}).env
    with make_env(cfg, seed=0) as live:
        assert game_spec(cfg) == live.spec == (live.frame_shape, live.frame_dtype, live.num_actions)


def test_scale_observations_maps_finite_bounds_to_plus_minus_one():
    """env.scale_observations: MountainCar's position [-1.2, 0.6] and velocity [-0.07, 0.07] become
    [-1, 1] (checked against the env's own state, by hand); CartPole's unbounded velocities stay raw."""
    rng = np.random.default_rng(3)
    env = gym_env("MountainCar-v0", scale_observations=True)
    frames, _ = env.reset(rng)
    for _ in range(30):
        frames, reward, done, _ = env.step(2)                   # push right: the velocity grows
        pos, vel = env._env.unwrapped.state
        assert np.allclose(frames, [2 * (pos + 1.2) / 1.8 - 1, vel / 0.07], atol=1e-6) and reward == -1.0
    assert abs(frames[1]) > 0.05 and np.all(np.abs(frames) <= 1)
    env.close()
    plain, scaled = gym_env("CartPole-v1"), gym_env("CartPole-v1", scale_observations=True)
    a, _ = plain.reset(np.random.default_rng(5))
    b, _ = scaled.reset(np.random.default_rng(5))
    high = plain._env.observation_space.high                  # x ±4.8, angle ±0.418...; velocities ±inf
    assert np.allclose(b[[0, 2]], a[[0, 2]] / high[[0, 2]], atol=1e-6) and np.array_equal(b[[1, 3]], a[[1, 3]])
    plain.close(), scaled.close()
    with pytest.raises(ValueError, match="env.scale_observations"):
        config_from_dict({"env": {"scale_observations": True}}, "mario.yaml")
