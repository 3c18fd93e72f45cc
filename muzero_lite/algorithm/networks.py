"""The six networks (docs/algorithm.md §2): representation, dynamics, reward, value, policy, exploration.

Conv bodies for image observations, MLP bodies for vectors, chosen by NetworkConfig.kind.
Hidden states are min-max scaled to [0, 1] per sample after the representation and after every
dynamics step. The action enters dynamics and reward as one-hot planes (conv) or a one-hot vector
(mlp) concatenated to the hidden state. Value and reward are logits over 2S+1 support bins.
"""
from __future__ import annotations

import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import Config, NetworkConfig
from .observations import input_shape
from .support import logits_to_scalar
from .types import GameSpec, InferenceOutput

# channels of the 1x1 reduction before every conv head's fully connected layers
HEAD_CHANNELS = 16


def configure_torch(threads: int = 0) -> None:
    """Process-wide torch settings of every muzero-lite process.

    Flush denormals: weight decay drives near-zero weights into the subnormal range, where CPU
    matmuls run many times slower, and a trainer slows down within minutes. threads: torch's
    intra-op threads (0 leaves torch's default).
    """
    torch.set_flush_denormal(True)
    # the CPU flag covers numpy too, whose finfo() then warns that the smallest subnormal is zero
    warnings.filterwarnings("ignore", message="The value of the smallest subnormal")
    if threads:
        torch.set_num_threads(threads)


def pick_device(name: str) -> torch.device:
    """"auto" -> cuda if available, else cpu; any other name -> torch.device(name)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo's first "flags" line (empty where there is none)."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device, flags: set[str] | None = None) -> bool:
    """Whether `device` computes bfloat16 natively: a CUDA GPU that supports it, or a CPU with AVX-512
    BF16 or AMX (Zen 4, Sapphire Rapids and newer). Elsewhere oneDNN emulates it, slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    return bool({"avx512_bf16", "amx_bf16"} & (cpu_flags() if flags is None else flags))


def use_bf16(setting: bool | str, device: torch.device, kind: str) -> tuple[bool, str]:
    """train.bf16 resolved for the trainer -> (on, why, for its first line): true / false as given;
    "auto" -> on for conv networks on a device with native bfloat16 (Mario: 1.55x the steps/s here),
    off for mlp ones (CartPole's small layers: 0.88x, the casts cost more than the matmuls save)."""
    if setting != "auto":
        return bool(setting), ""
    if kind != "conv":
        return False, "auto: float32 for mlp networks"
    native = native_bf16(device)
    return native, "auto: native on this device" if native else "auto: not native on this device"


def scale_hidden(x: torch.Tensor) -> torch.Tensor:
    """Min-max scale each sample of [B, ...] to [0, 1] over all its hidden units."""
    flat = x.flatten(1)
    lo = flat.min(1, keepdim=True).values
    hi = flat.max(1, keepdim=True).values
    return ((flat - lo) / (hi - lo + 1e-5)).view_as(x)


class ResidualBlock(nn.Module):
    """Two 3x3 convs with a skip connection."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


def _mlp(n_in: int, width: int, n_out: int) -> nn.Sequential:
    """Two hidden ReLU layers of `width`."""
    return nn.Sequential(nn.Linear(n_in, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, n_out))


class ConvHead(nn.Module):
    """Hidden planes [B, C_in, hw, hw] -> [B, n_out]: 1x1 reduction, then two linear layers."""

    def __init__(self, c_in: int, hw: int, width: int, n_out: int):
        super().__init__()
        self.reduce = nn.Conv2d(c_in, HEAD_CHANNELS, 1)
        self.fc = nn.Sequential(nn.Linear(HEAD_CHANNELS * hw * hw, width), nn.ReLU(), nn.Linear(width, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.reduce(x)).flatten(1))


class MuZeroNetworks(nn.Module):
    """All six networks; input_shape is one observation's shape from observations.input_shape."""

    def __init__(self, input_shape: tuple, num_actions: int, cfg: NetworkConfig):
        super().__init__()
        self.num_actions = num_actions
        self.kind = cfg.kind
        bins = 2 * cfg.support_size + 1
        if cfg.kind == "conv":
            if len(input_shape) != 3:
                raise ValueError(f"network.kind conv needs image observations, got input shape {input_shape}")
            c_in, height, width = input_shape
            c, hw = cfg.channels, cfg.hidden_hw
            layers: list[nn.Module] = []
            size = min(height, width)
            while size > 2 * hw:           # stride-2 convs down to at most twice the hidden side
                layers += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.ReLU()]
                c_in, size = c, (size + 1) // 2
            layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(hw)]
            layers += [ResidualBlock(c) for _ in range(cfg.blocks)]
            self.representation = nn.Sequential(*layers)
            self.dynamics_in = nn.Conv2d(c + num_actions, c, 3, padding=1)
            self.dynamics = nn.Sequential(*[ResidualBlock(c) for _ in range(cfg.blocks)])
            self.reward = ConvHead(c + num_actions, hw, cfg.width, bins)
            self.value = ConvHead(c, hw, cfg.width, bins)
            self.policy = ConvHead(c, hw, cfg.width, num_actions)
            self.exploration = ConvHead(c, hw, cfg.width, num_actions)
            self.hidden_shape = (c, hw, hw)
        else:
            if len(input_shape) != 1:
                raise ValueError(f"network.kind mlp needs vector observations, got input shape {input_shape}")
            n, lat, w = input_shape[0], cfg.latent, cfg.width
            self.representation = _mlp(n, w, lat)
            self.dynamics_in = _mlp(lat + num_actions, w, lat)
            self.dynamics = nn.Identity()
            self.reward = _mlp(lat + num_actions, w, bins)
            self.value = _mlp(lat, w, bins)
            self.policy = _mlp(lat, w, num_actions)
            self.exploration = _mlp(lat, w, num_actions)
            self.hidden_shape = (lat,)
        # start from value 0, reward 0 and a uniform policy, like the uniform network of the first games
        for head in (self.reward, self.value, self.policy):
            last = head.fc[-1] if isinstance(head, ConvHead) else head[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def main_parameters(self) -> list[nn.Parameter]:
        """Every parameter except the exploration network's (it has its own optimiser)."""
        skip = {id(p) for p in self.exploration.parameters()}
        return [p for p in self.parameters() if id(p) not in skip]

    def represent(self, obs: torch.Tensor) -> torch.Tensor:
        """[B, *input_shape] -> [B, *hidden_shape] scaled hidden state."""
        return scale_hidden(self.representation(obs))

    def _with_action(self, hidden: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Concatenate the one-hot action: planes [B, A, hw, hw] (conv) or a vector [B, A] (mlp)."""
        onehot = F.one_hot(action.long(), self.num_actions).to(hidden.dtype)          # [B, A]
        if hidden.dim() == 4:
            onehot = onehot[:, :, None, None].expand(-1, -1, hidden.shape[2], hidden.shape[3])
        return torch.cat([hidden, onehot], dim=1)

    def dynamics_step(self, hidden: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(hidden [B, ...], action [B]) -> (next hidden [B, ...], reward logits [B, 2S+1])."""
        x = self._with_action(hidden, action)
        if self.kind == "conv":
            nxt = self.dynamics(F.relu(self.dynamics_in(x) + hidden))
        else:
            nxt = self.dynamics_in(x)
        return scale_hidden(nxt), self.reward(x)

    def predict(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """hidden -> (value logits [B, 2S+1], policy logits [B, A])."""
        return self.value(hidden), self.policy(hidden)

    @torch.no_grad()
    def initial_inference(self, obs: torch.Tensor) -> InferenceOutput:
        """Observations [B, *input_shape] -> hidden, value [B], reward 0 [B], policy logits [B, A]."""
        hidden = self.represent(obs)
        value_logits, policy_logits = self.predict(hidden)
        value = logits_to_scalar(value_logits)
        return InferenceOutput(hidden, value, torch.zeros_like(value), policy_logits)

    @torch.no_grad()
    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor) -> InferenceOutput:
        """(hidden [B, ...], action [B]) -> next hidden, its value [B], the reward [B], policy logits."""
        nxt, reward_logits = self.dynamics_step(hidden, action)
        value_logits, policy_logits = self.predict(nxt)
        return InferenceOutput(nxt, logits_to_scalar(value_logits), logits_to_scalar(reward_logits), policy_logits)


def build_networks(cfg: Config, spec: GameSpec) -> MuZeroNetworks:
    """The networks of a config for its game (spec from `envs.make.game_spec` or a game file), on the CPU."""
    shape = input_shape(spec.frame_shape, cfg.env.stack_moves, spec.num_actions, cfg.env.action_history)
    return MuZeroNetworks(shape, spec.num_actions, cfg.network)


class DeviceModel:
    """Networks on an accelerator, acting for the CPU-side search (self-play and eval with
    selfplay.device cuda): inputs go to the device, hidden states stay there between the search's
    steps, and value, reward and policy logits come back to the CPU, where the search and the
    games read them."""

    def __init__(self, networks: "MuZeroNetworks", device: torch.device):
        self.networks, self.device = networks, device

    def _back(self, out: InferenceOutput) -> InferenceOutput:
        """Hidden [B, ...] stays on the device; value [B], reward [B] and logits [B, A] come to the CPU
        in one copy (one wait for the device a call, not three)."""
        both = torch.cat([out.value[:, None], out.reward[:, None], out.policy_logits], dim=1).cpu()   # [B, 2 + A]
        return InferenceOutput(out.hidden, both[:, 0], both[:, 1], both[:, 2:])

    def initial_inference(self, obs: torch.Tensor) -> InferenceOutput:
        """Observations [B, *input_shape] on the CPU -> the networks' initial inference, as above."""
        return self._back(self.networks.initial_inference(obs.to(self.device, non_blocking=True)))

    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor) -> InferenceOutput:
        """(hidden [B, ...] on the device, action [B] on the CPU) -> the networks' recurrent inference."""
        return self._back(self.networks.recurrent_inference(hidden, action.to(self.device)))


def acting_model(networks: "MuZeroNetworks", device: torch.device):
    """What self-play and eval act with: the networks themselves on the CPU, else a `DeviceModel`."""
    return networks if device.type == "cpu" else DeviceModel(networks, device)


def acting_networks(cfg: Config, spec: GameSpec, device: torch.device) -> tuple["MuZeroNetworks", object]:
    """Self-play's or eval's networks in eval mode on device, and the model to act with (`acting_model`);
    weights loaded into the first later are what the second plays."""
    networks = build_networks(cfg, spec).to(device).eval()
    return networks, acting_model(networks, device)


class UniformModel:
    """The uniform network of the first games (docs/algorithm.md §1): uniform policy, value 0, reward 0."""

    def __init__(self, num_actions: int):
        self.num_actions = num_actions

    def _out(self, b: int) -> InferenceOutput:
        """B rows of value 0, reward 0 and equal logits."""
        z = torch.zeros(b)
        return InferenceOutput(torch.zeros(b, 1), z, z, torch.zeros(b, self.num_actions))

    def initial_inference(self, obs: torch.Tensor) -> InferenceOutput:
        """Uniform output for each of the B observations."""
        return self._out(obs.shape[0])

    def recurrent_inference(self, hidden: torch.Tensor, action: torch.Tensor) -> InferenceOutput:
        """Uniform output for each of the B hidden states."""
        return self._out(hidden.shape[0])
