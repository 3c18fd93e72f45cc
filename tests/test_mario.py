"""Mario through the env adapter, on the real emulator (a few moves per test), and the reward by hand."""
from __future__ import annotations

import numpy as np
import pytest

from muzero_lite.config import RewardConfig, config_from_dict
from muzero_lite.envs import mario_emulator as mario
from muzero_lite.envs.make import make_env

INFO_KEYS = {"moves", "terminated", "truncated", "x_pos", "flag", "level", "time", "coins", "life"}
RIGHT = 1  # COMPLEX_MOVEMENT[1] == ["right"]


def mario_env(**env):
    """A Mario env framed as the original did (96x96 RGB, rewards unscaled), some keys overridden."""
    orig = {"frame_size": [96, 96], "grayscale": False, "reward_scale": 1.0}
    return make_env(config_from_dict({"env": {**orig, **env}}).env, seed=0)


# Infos recorded from 1-1 holding right (frame_skip 4): moves 34 -> 35 (the clock ticks) and
# 39 -> 40 (Mario walks into the first goomba; the stage env ends the game, life stays 2).
REC_34 = {"x_pos": 254, "time": 394, "life": 2, "coins": 0}
REC_35 = {"x_pos": 261, "time": 393, "life": 2, "coins": 0}
REC_39 = {"x_pos": 289, "time": 393, "life": 2, "coins": 0}
REC_40 = {"x_pos": 296, "time": 392, "life": 2, "coins": 0}


def test_reward_default_weights_on_recorded_infos():
    w = RewardConfig()
    # Δx 7, clock -1
    assert mario.mario_reward(REC_34, REC_35, died=False, flag=False, weights=w) == 7 - 1
    # Δx 7, clock -1, death counts as one life: 15 * -1
    assert mario.mario_reward(REC_39, REC_40, died=True, flag=False, weights=w) == 7 - 1 - 15


def test_reward_custom_weights_clip_coins_flag():
    w = RewardConfig(x=0.5, x_clip=5.0, clock=2.0, life=10.0, coins=3.0, flag=100.0)
    # 0.5 * clip(7, ±5) + 2 * -1
    assert mario.mario_reward(REC_34, REC_35, False, False, w) == pytest.approx(0.5 * 5 - 2)
    # ... + 10 * -1 for the death
    assert mario.mario_reward(REC_39, REC_40, True, False, w) == pytest.approx(0.5 * 5 - 2 - 10)
    # the flag move with a coin: 0.5 * 5 + 0 clock + 3 * 1 coin + 100 flag
    before = {"x_pos": 3150, "time": 300, "life": 2, "coins": 5}
    after = {"x_pos": 3161, "time": 300, "life": 2, "coins": 6}
    assert mario.mario_reward(before, after, False, True, w) == pytest.approx(2.5 + 3 + 100)


def test_reward_jumps_wraps_and_no_double_death():
    w = RewardConfig()
    # x jumps back 960 at a warp: clipped to -15
    assert mario.mario_reward({"x_pos": 1000, "time": 300, "life": 2, "coins": 0},
                              {"x_pos": 40, "time": 300, "life": 2, "coins": 0}, False, False, w) == -15
    # the 100th coin wraps the counter 99 -> 0 (and gives a life): +1 coin, +15 life
    assert mario.mario_reward({"x_pos": 500, "time": 300, "life": 2, "coins": 99},
                              {"x_pos": 500, "time": 300, "life": 3, "coins": 0}, False, False, w) == 1 + 15
    # a death the counter already shows counts once
    assert mario.mario_reward({"x_pos": 500, "time": 300, "life": 2, "coins": 0},
                              {"x_pos": 500, "time": 300, "life": 1, "coins": 0}, True, False, w) == -15


def test_reset_and_step_shapes_default_rgb():
    env = mario_env()
    assert env.num_actions == 12 and env.frame_shape == (2, 96, 96, 3) and env.frame_dtype == np.uint8
    frames, info = env.reset(np.random.default_rng(0))
    assert frames.shape == (2, 96, 96, 3) and frames.dtype == np.uint8
    assert np.array_equal(frames[0], frames[1])  # reset: one screen repeated
    assert INFO_KEYS <= info.keys() and info["moves"] == 0 and info["level"] == "1-1"
    assert info["x_pos"] == 40 and info["time"] == 400 and not info["flag"]
    frames, reward, done, info = env.step(RIGHT)
    assert frames.shape == (2, 96, 96, 3) and frames.dtype == np.uint8 and frames.max() > 0
    assert isinstance(reward, float) and not done
    assert INFO_KEYS <= info.keys() and info["moves"] == 1 and not info["terminated"] and not info["truncated"]
    img = env.render_rgb()
    assert img.shape == (240, 256, 3) and img.dtype == np.uint8
    env.close()


def test_grey_small_frames_and_colour_render():
    env = mario_env(grayscale=True, frame_size=[30, 40], frame_skip=6, frames_per_move=3, action_set="simple")
    assert env.num_actions == 7 and env.frame_shape == (3, 30, 40, 1)
    frames, _ = env.reset(np.random.default_rng(0))
    assert frames.shape == (3, 30, 40, 1) and frames.dtype == np.uint8
    frames, _, _, _ = env.step(RIGHT)
    assert frames.shape == (3, 30, 40, 1)
    assert env.render_rgb().shape == (240, 256, 3)  # gifs stay full-size colour
    env.close()


def test_screen_copy_matches_the_emulator_screen():
    emulator = mario.make_emulator("1-1")
    screen, _ = mario.emulator_reset(emulator)
    for _ in range(30):
        screen, _, _ = mario.emulator_step(emulator, 0b10000000)
    expected = np.array(screen)
    assert np.array_equal(mario.screen_copy(screen), expected)
    assert np.array_equal(np.asarray(mario.screen_image(mario.grab_screen(screen))), expected)
    plain = expected.copy()  # any other layout is copied as RGB
    assert np.array_equal(mario.grab_screen(plain), plain)
    mario.close_emulator(emulator)
    mario.close_emulator(emulator)  # twice is fine


def test_levels_drawn_from_list_with_the_rng():
    env = mario_env(levels=["1-1", "1-2"])
    rng = np.random.default_rng(3)
    seen = []
    for _ in range(8):
        _, info = env.reset(rng)
        seen.append(info["level"])
        world, stage = mario.parse_level(info["level"])
        assert (info["world"], info["stage"]) == (world, stage)
    assert set(seen) == {"1-1", "1-2"}
    # the same seed draws the same levels
    rng = np.random.default_rng(3)
    assert [env.reset(rng)[1]["level"] for _ in range(8)] == seen
    env.close()


def test_max_moves_truncates():
    env = mario_env(max_moves=3)
    env.reset(np.random.default_rng(0))
    assert not env.step(RIGHT)[2] and not env.step(RIGHT)[2]
    _, _, done, info = env.step(RIGHT)
    assert done and info["truncated"] and not info["terminated"] and info["moves"] == 3
    with pytest.raises(RuntimeError, match="reset"):
        env.step(RIGHT)
    env.close()


NOOP = 0  # COMPLEX_MOVEMENT[0] == ["NOOP"]


def test_stall_moves_end_a_game_without_x_progress():
    env = mario_env(stall_moves=4)
    _, info = env.reset(np.random.default_rng(0))
    assert not info["stalled"]
    # standing still: x never passes its start, so the 4th move ends the game, terminated, with no death term
    for move in range(1, 4):
        _, reward, done, info = env.step(NOOP)
        assert not done and not info["stalled"] and info["moves"] == move
    _, reward, done, info = env.step(NOOP)
    assert done and info["stalled"] and info["terminated"] and not info["truncated"] and info["moves"] == 4
    assert reward == pytest.approx(0.0)  # no Δx, no clock tick in 16 frames of 1-1's start, no death
    with pytest.raises(RuntimeError, match="reset"):
        env.step(NOOP)
    # a new maximum of x restarts the count: x moves 40 -> 41 one move after the press (move 4), then
    # 3 more moves without a new maximum go on and the 4th ends the game
    env.reset(np.random.default_rng(0))
    for action in [NOOP, NOOP, RIGHT] + [NOOP] * 4:
        _, _, done, info = env.step(action)
        assert not done
    assert info["x_pos"] == 41 and info["moves"] == 7
    _, _, done, info = env.step(NOOP)
    assert done and info["stalled"] and info["moves"] == 8
    env.close()


def test_stall_moves_zero_never_stall():
    env = mario_env(max_moves=6)
    env.reset(np.random.default_rng(0))
    for _ in range(5):
        _, _, done, info = env.step(NOOP)
        assert not done and not info["stalled"]
    _, _, done, info = env.step(NOOP)
    assert done and info["truncated"] and not info["stalled"] and not info["terminated"]
    env.close()


def test_death_ends_the_game_with_the_life_term():
    env = mario_env(reward_scale=0.5)
    _, before = env.reset(np.random.default_rng(0))
    for _ in range(100):  # holding right, Mario walks into the first goomba (about move 40)
        _, reward, done, after = env.step(RIGHT)
        if done:
            break
        before = after
    assert done and after["terminated"] and not after["truncated"] and not after["flag"]
    assert after["death"] == "enemy"                        # read from the emulator's RAM, not a pit
    expected = 0.5 * mario.mario_reward(before, after, died=True, flag=False, weights=RewardConfig())
    assert reward == pytest.approx(expected) and reward < 0  # 0.5 * (Δx <= 15 - 15 per life)
    env.close()


def test_invalid_actions_raise():
    env = mario_env()
    env.reset(np.random.default_rng(0))
    for bad in (12, -1, 1.0, True, "1", [1]):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    env.step(np.int64(3))  # numpy integers are fine
    env.close()


def test_bad_level_names():
    with pytest.raises(ValueError, match="9-1"):
        mario.parse_level("9-1")
    assert mario.parse_level("8-4") == (8, 4)


class FakeNesPy9:
    """Stands in for a nes-py 9 stage env: Gymnasium-shaped reset and step, plain RGB screens filled
    with the frame number; Mario moves 1 px a frame, the clock ticks every 4 frames, he dies at frame 6."""

    def __init__(self):
        self.t = 0
        self.ram = np.zeros(2048, np.uint8)
        self.ram[0x00b5] = 2                                 # below the screen: he fell

    def _info(self):
        return {"coins": 0, "flag_get": False, "life": 2, "time": 400 - self.t // 4, "x_pos": 40 + self.t,
                "world": 1, "stage": 1}

    def _screen(self):
        return np.full((240, 256, 3), self.t, np.uint8)

    def reset(self):
        self.t = 0
        return self._screen(), self._info()

    def step(self, byte):
        self.t += 1
        return self._screen(), 0.0, self.t >= 6, False, self._info()

    def close(self):
        pass


def test_nes_py_9_shapes_and_a_death_mid_move(monkeypatch):
    monkeypatch.setattr(mario, "make_emulator", lambda level: FakeNesPy9())
    env = mario_env(frame_size=[8, 8])
    frames, info = env.reset(np.random.default_rng(0))
    assert (frames == 0).all() and info["x_pos"] == 40 and info["time"] == 400 and not info["flag"]
    frames, reward, done, info = env.step(RIGHT)  # frames 1-4, pooled (1, 2) and (3, 4)
    assert frames[0].max() == 2 and frames[1].max() == 4 and not done
    assert reward == 4 - 1  # Δx 4, clock 400 -> 399
    frames, reward, done, info = env.step(RIGHT)  # frames 5, 6: the game ends; (5, 6) and a repeat
    assert (frames == 6).all() and done and info["terminated"] and info["moves"] == 2
    assert reward == 2 + 0 - 15  # Δx 2, clock unchanged, death
    assert info["death"] == "pit" and mario.death_cause(object(), info) == "unknown"
    assert env.render_rgb().shape == (240, 256, 3)
    env.close()
