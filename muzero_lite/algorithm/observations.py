"""The network input, built from stored per-move frames: one function for self-play and training.

Frames are stored once per move (uint8 images or float32 vectors); the stack that the network sees
is built only when needed, never stored. The stack at position t holds the frames of moves
t-stack_moves+1 .. t, oldest first; each entry is followed by an encoding of the action that led
to it (a scalar plane (a+1)/A for images, a one-hot vector for vectors; zeros at position 0), unless
env.action_history is false (frames only).
History before the start of the game is zeros. Pixels are scaled to [0, 1] here.
"""
from __future__ import annotations

import numpy as np


def input_shape(frame_shape: tuple, stack_moves: int, num_actions: int, action_history: bool = True) -> tuple:
    """Shape of one network input for stored frames of frame_shape ((F, H, W, C) or (O,))."""
    if len(frame_shape) == 4:
        f, h, w, c = frame_shape
        return (stack_moves * (f * c + int(action_history)), h, w)
    (o,) = frame_shape
    return (stack_moves * (o + num_actions * int(action_history)),)


def stack_observations(frames: np.ndarray, actions: np.ndarray, positions: np.ndarray,
                       stack_moves: int, num_actions: int,
                       game_positions: np.ndarray | None = None, action_history: bool = True) -> np.ndarray:
    """Network inputs at several positions.

    One game (game_positions None): frames [T, F, H, W, C] uint8 or [T, O] float32 are the frames
    seen at positions 0..T-1 (entries past the last position used are never read), actions[j] the
    move taken at position j, positions [B] in [0, T).
    Ring storage (game_positions given): frames/actions hold many games back to back, indices wrap
    modulo len(frames); positions [B] are storage indices and game_positions [B] each one's move
    number within its game (how much history it has).
    action_history False: the frames only, [B, stack*F*C, H, W] or [B, stack*O].
    Returns [B, stack*(F*C+1), H, W] or [B, stack*(O+A)] float32.
    """
    positions = np.asarray(positions, dtype=np.int64)
    t = positions if game_positions is None else np.asarray(game_positions, dtype=np.int64)
    n = frames.shape[0]
    b = positions.shape[0]
    back = np.arange(stack_moves - 1, -1, -1)[None, :]                             # [1, stack] oldest first
    valid = (t[:, None] - back) >= 0                                               # [B, stack] inside the game
    has_prev = (t[:, None] - back) >= 1                                            # [B, stack] an action led here
    safe = np.where(valid, positions[:, None] - back, positions[:, None]) % n       # [B, stack] storage index
    # the action that led to entry j is the one taken at j-1; none at a game's first position (zeros)
    prev_action = np.where(has_prev, np.asarray(actions, dtype=np.int64)[(safe - 1) % n], 0)
    if frames.ndim == 5:
        _, f, h, w, c = frames.shape
        # one output array, filled in place: the frames converted as they are copied in (one pass), the
        # entries before a game's start zeroed, the action planes broadcast (a copy, a scaling and a
        # concatenation of the whole batch each cost as much again)
        out = np.empty((b, stack_moves, f * c + int(action_history), h, w), dtype=np.float32)
        x = frames[safe]                                                           # [B, stack, F, H, W, C] uint8
        np.multiply(x.transpose(0, 1, 2, 5, 3, 4).reshape(b, stack_moves, f * c, h, w), np.float32(1 / 255),
                    out=out[:, :, :f * c], dtype=np.float32)
        out[:, :, :f * c][~valid] = 0.0
        if not action_history:
            return out.reshape(b, stack_moves * f * c, h, w)
        plane = np.where(has_prev, (prev_action + 1) / num_actions, 0.0).astype(np.float32)  # [B, stack]
        out[:, :, f * c] = plane[:, :, None, None]
        return out.reshape(b, stack_moves * (f * c + 1), h, w)
    x = frames[safe].astype(np.float32) * valid[:, :, None]                       # [B, stack, O]
    if not action_history:
        return x.reshape(b, -1)
    onehot = np.zeros((b, stack_moves, num_actions), dtype=np.float32)
    np.put_along_axis(onehot, prev_action[:, :, None], 1.0, axis=2)
    onehot *= has_prev[:, :, None]
    return np.concatenate([x, onehot], axis=2).reshape(b, -1)
