"""Network inputs stacked from stored frames and actions, against hand-written cases."""
import numpy as np

from muzero_lite.algorithm.observations import stack_observations


def test_image_stack_by_hand():
    # one game of 3 positions, 1 frame of 1x1 grey a move; actions taken [2, 0, 1] of 3
    frames = np.array([10, 20, 30], dtype=np.uint8).reshape(3, 1, 1, 1, 1)
    actions = np.array([2, 0, 1])
    x = stack_observations(frames, actions, np.array([0, 2]), stack_moves=2, num_actions=3)
    assert x.shape == (2, 4, 1, 1) and x.dtype == np.float32
    # entry = [frame / 255, (action that led here + 1) / 3]; before the start: zeros; at the start: no action
    np.testing.assert_allclose(x[0, :, 0, 0], [0, 0, 10 / 255, 0], rtol=1e-6)
    np.testing.assert_allclose(x[1, :, 0, 0], [20 / 255, (2 + 1) / 3, 30 / 255, (0 + 1) / 3], rtol=1e-6)


def test_rgb_channels_frame_major_and_the_plane_fills_the_image():
    # 2 frames a move of 2x2 RGB: channel value = 100*frame + 10*colour + position
    t, f, c = 2, 2, 3
    frames = np.zeros((t, f, 2, 2, c), dtype=np.uint8)
    for p in range(t):
        for i in range(f):
            for k in range(c):
                frames[p, i, :, :, k] = 100 * i + 10 * k + p
    x = stack_observations(frames, np.array([1, 0]), np.array([1]), stack_moves=2, num_actions=2)
    assert x.shape == (1, 2 * (f * c + 1), 2, 2)
    want = [100 * i + 10 * k + p for p in range(t) for i in range(f) for k in range(c)]
    got = np.delete(x[0, :, 0, 0], [6, 13]) * 255
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert (x[0, 6] == 0).all() and (x[0, 13] == 1.0).all()     # no action before position 0; action 1 -> 2/2


def test_ring_positions_wrap_and_stop_at_the_games_start():
    # storage of 4 entries holding the end of one game at 0..1 and a new game from 2; position 3 is
    # move 1 of the new game, so its stack of 3 reaches back only to storage 2 (move 0), not into the old game
    frames = np.array([1, 2, 3, 4], dtype=np.uint8).reshape(4, 1, 1, 1, 1)
    actions = np.array([0, 0, 1, 0])
    x = stack_observations(frames, actions, np.array([3]), stack_moves=3, num_actions=2, game_positions=np.array([1]))
    np.testing.assert_allclose(x[0, :, 0, 0], [0, 0, 3 / 255, 0, 4 / 255, 1.0], rtol=1e-6)


def test_without_action_history_the_input_is_the_frames_only():
    from muzero_lite.algorithm.observations import input_shape
    # vectors: [O] frames, stack 2; the one-hots of test_vector cases are left out, the zeros before the start stay
    frames = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=np.float32)
    actions = np.array([2, 0, 1])
    x = stack_observations(frames, actions, np.array([0, 2]), stack_moves=2, num_actions=3, action_history=False)
    np.testing.assert_array_equal(x, [[0, 0, 1, 2], [3, 4, 5, 6]])
    assert input_shape((2,), 2, 3, action_history=False) == (4,) and input_shape((2,), 2, 3) == (10,)
    # images: the action planes are left out
    img = np.array([10, 20, 30], dtype=np.uint8).reshape(3, 1, 1, 1, 1)
    y = stack_observations(img, actions, np.array([0, 2]), stack_moves=2, num_actions=3, action_history=False)
    np.testing.assert_allclose(y[:, :, 0, 0], [[0, 10 / 255], [20 / 255, 30 / 255]], rtol=1e-6)
    assert input_shape((1, 1, 1, 1), 2, 3, action_history=False) == (2, 1, 1) == y.shape[1:]
