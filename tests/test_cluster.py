"""Self-play on a real Ray cluster of this machine (two nodes, all on 127.0.0.1, no dashboard, no usage
statistics): games travel as bytes and land whole, an actor is placed on the second node by a custom
resource, the node is removed mid-run and the run goes on with nothing partial and nothing lost in
transit; hostile bytes are refused like hostile files; `run` with Ray actors trains."""
import io
import ipaddress
import os
import time

import pytest
from conftest import TINY_CARTPOLE, write_config
from hostile import make_record, valid_members, write_pickled_member

from muzero_lite.config import load_config
from muzero_lite.data.atomic import is_temp
from muzero_lite.data.checkpoints import list_checkpoints
from muzero_lite.data.gamefile import game_bytes, list_game_files, read_game
from muzero_lite.data.runfolder import RunPaths
from muzero_lite.reporting.gifs import gif_path_for

# before Ray starts: bind to 127.0.0.1 only (Ray 2.60 otherwise takes the machine's address), send nothing out
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from muzero_lite.processes.ray_selfplay import GameIntake, RaySelfplay  # noqa: E402
from muzero_lite.processes.run import run_all  # noqa: E402


def _cfg(tmp_path, **train):
    path = write_config(tmp_path, "cartpole", selfplay={**TINY_CARTPOLE["selfplay"], "games_in_flight": 2, "gif_every": 3},
                        train={**TINY_CARTPOLE["train"], **train}, env={"max_moves": 60})
    return path, load_config(path)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False,
                                                       "node_ip_address": "127.0.0.1"})
    node2 = c.add_node(num_cpus=1, resources={"node2": 1}, node_ip_address="127.0.0.1")
    ray.init(address=c.address, include_dashboard=False, log_to_driver=False)
    try:
        yield c, node2
    finally:
        ray.shutdown()
        c.shutdown()


def _descendants(pid: int) -> set[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    kids.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        out.add(p)
        todo += kids.get(p, [])
    return out


def _listening(pids: set[int]) -> list[tuple[int, str]]:
    """(pid, local address) of the TCP sockets these processes listen on, from /proc (no ss needed)."""
    inodes: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes[link[8:-1]] = pid
        except OSError:
            continue
    out = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:             # 0A: LISTEN
                    addr, port = cols[1].split(":")
                    raw = bytes.fromhex(addr)
                    # /proc prints each 32-bit word in host (little-endian) order
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                    ip = ipaddress.IPv6Address(words) if v6 else ipaddress.IPv4Address(words)
                    out.append((inodes[cols[9]], f"{ip}:{int(port, 16)}"))
    return out


def test_every_ray_socket_listens_on_127_0_0_1_only(cluster):
    sockets = _listening(_descendants(os.getpid()))
    assert len(sockets) >= 3, sockets             # the GCS, raylets, object managers...
    for pid, local in sockets:
        ip = ipaddress.ip_address(local.rsplit(":", 1)[0])
        ip = getattr(ip, "ipv4_mapped", None) or ip
        assert ip.is_loopback, (pid, local)


def test_games_travel_whole_and_a_removed_node_costs_only_its_games_in_flight(cluster, tmp_path):
    c, node2 = cluster
    _, cfg = _cfg(tmp_path)
    paths = RunPaths.of(cfg, tmp_path / "run")
    paths.make()
    out = io.StringIO()
    pool = RaySelfplay(cfg, paths, 2, out, resources=[None, {"node2": 1}])
    try:
        end = time.time() + 90
        while time.time() < end and not (len(pool.nodes) == 2 and pool.written >= 20):
            pool.tick()
        assert len(pool.nodes) == 2 and pool.written >= 20, out.getvalue()
        assert pool.nodes["r1"] == node2.node_id and pool.nodes["r0"] != node2.node_id
        before = pool.written
        c.remove_node(node2)                      # the node of actor r1 leaves with its games in flight
        end = time.time() + 60
        while time.time() < end and pool.written < before + 20:
            pool.tick()
        assert pool.written >= before + 20, out.getvalue()       # r0 goes on
    finally:
        pool.stop()
    files = list_game_files(paths.games)
    assert len(files) == pool.written and pool.rejected == 0 and pool.games_lost == 0
    for f in files:
        rec = read_game(f, num_actions=2)                        # every file whole and valid
        assert rec.meta["worker"] in ("r0", "r1")
    assert not [p for d in (paths.games, paths.gifs) for p in d.iterdir() if is_temp(p)]
    assert any(gif_path_for(f, paths.gifs).exists() for f in files)


def test_hostile_bytes_from_an_actor_are_refused_like_hostile_files(tmp_path):
    _, cfg = _cfg(tmp_path)
    paths = RunPaths.of(cfg, tmp_path / "run")
    paths.make()
    out = io.StringIO()
    intake = GameIntake(cfg, paths, out)
    marker = tmp_path / "pwned"
    pickled = write_pickled_member(tmp_path / "p.npz", valid_members(), "policies", marker).read_bytes()
    three_actions = game_bytes(make_record(t=5, vector=True, num_actions=3, obs_size=4))
    sent = [b"", b"\x00" * 100, pickled, three_actions, "not bytes", pickled[: len(pickled) // 2]]
    for i, data in enumerate(sent):
        assert intake.receive("r9", i, data, b"GIF89a...") is None
    assert intake.rejected == len(sent) and intake.written == 0 and not marker.exists()
    assert list(paths.games.iterdir()) == [] and list(paths.gifs.iterdir()) == []
    lines = out.getvalue().splitlines()
    assert len(lines) == len(sent) and all(l.startswith("[ray] refused game ") for l in lines)
    assert "from actor r9: empty file" in lines[0] and "pickle" in lines[2] and "3 actions" in lines[3]
    good = game_bytes(make_record(t=5, vector=True, num_actions=2, obs_size=4))
    path = intake.receive("r9", 7, good, b"not a gif")
    assert path is not None and path.read_bytes() == good and not gif_path_for(path, paths.gifs).exists()


def test_run_with_ray_actors_trains_and_writes_the_same_run_folder(cluster, tmp_path):
    cfg_path, cfg = _cfg(tmp_path, replay_ratio=2.0, pin_replay_ratio=True)
    run = tmp_path / "run"
    out = io.StringIO()
    assert run_all(cfg, str(cfg_path), run, workers=1, seconds=30, out=out, status_every=0,
                   ray_address="auto") == 0
    text = out.getvalue()
    assert "1 self-play Ray actor(s) + 1 trainer" in text and "0 lost in transit" in text, text
    assert list_checkpoints(run / "checkpoints"), text              # the trainer trained on the actor's games
    assert len(list_game_files(run / "games")) >= 10
    assert (run / "checkpoints" / "pace.json").exists() and (run / "checkpoints" / "train_metrics.csv").exists()


def test_run_ray_without_ray_installed_is_one_line(tmp_path, monkeypatch, capsys):
    import builtins

    from muzero_lite.cli import main
    real = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real(name, *a, **k)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    cfg_path, _ = _cfg(tmp_path)
    assert main(["run", "--config", str(cfg_path), "--run-dir", str(tmp_path / "run"), "--ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["muzero-lite: --ray needs Ray: pip install -e .[ray] (or pip install 'ray[default]')"]
    assert not (tmp_path / "run").exists()
