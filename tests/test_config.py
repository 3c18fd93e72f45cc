"""Every kind of bad config is one line naming file, key and value, exit code 2, nothing written."""
import dataclasses

import pytest
import yaml
from conftest import ROOT, cli

from muzero_lite.cli import main
from muzero_lite.config import ConfigError, config_from_dict, load_config, model_digest, temperature_at
from muzero_lite.data.runfolder import save_resolved_config

BAD = [
    # (yaml text, words the message must contain)
    ("env: {frame_skipp: 4}\n", ["env.frame_skipp", "unknown key", "did you mean 'frame_skip'"]),
    ("train: {batch_size: many}\n", ["train.batch_size", "'many'", "a number > 0 or auto"]),
    ("network: {channels: -8}\n", ["network.channels", "-8", "> 0"]),
    ("selfplay: {games_in_flight: 0}\n", ["selfplay.games_in_flight", "0", "> 0"]),
    ("selfplay: {games_in_flight: -3}\n", ["selfplay.games_in_flight", "-3", "> 0"]),
    ("eval: {sticky_actions: 1}\n", ["eval.sticky_actions", "1", "[0, 1)"]),
    ("selfplay: {sticky_actions: -0.1}\n", ["selfplay.sticky_actions", "-0.1", "[0, 1)"]),
    ("eval: {noop_max: -1}\n", ["eval.noop_max", "-1", ">= 0"]),
    ("search: {policy_target: gumbel}\n", ["search.policy_target", "gumbel", "completed_q"]),
    ("env: {discount: 1.5}\n", ["env.discount", "1.5", "(0, 1]"]),
    ("env: {discount: 0}\n", ["env.discount", "0", "(0, 1]"]),
    ("env: {id: NoSuchGame-v9}\n", ["env.id", "NoSuchGame-v9", "unknown env id"]),
    ("env: {levels: [\"9-1\"]}\n", ["env.levels", "9-1", "unknown Mario level"]),
    ("env: {levels: []}\n", ["env.levels", "[]"]),
    ("env: {held_out_levels: [\"1-5\"]}\n", ["env.held_out_levels", "1-5", "unknown Mario level"]),
    ("env: {levels: [\"1-1\", \"1-2\"], held_out_levels: [\"1-2\"]}\n", ["env.held_out_levels", "1-2 also in env.levels"]),
    ("env: {id: CartPole-v1, held_out_levels: [\"1-2\"]}\n", ["env.held_out_levels", "Mario only", "'CartPole-v1'"]),
    ("env: {stall_moves: -5}\n", ["env.stall_moves", "-5", ">= 0"]),
    ("env: {id: CartPole-v1, stall_moves: 100}\n", ["env.stall_moves", "100", "Mario only", "'CartPole-v1'"]),
    ("env: {action_set: turbo}\n", ["env.action_set", "turbo", "complex"]),
    ("env: {action_set: right_only}\nsearch: {root_actions: 6}\n", ["search.root_actions", "6", "5 actions"]),
    # names of earlier versions: one line naming the new key or value
    ("search: {q_rule: seed}\n", ["search.q_rule", "'seed'", "renamed 'mean'"]),
    ("search: {q_rule: orig}\n", ["search.q_rule", "'orig'", "renamed 'mean'"]),
    ("search: {policy_target: seed}\n", ["search.policy_target", "'seed'", "renamed 'normalised_q'"]),
    ("search: {policy_target: orig}\n", ["search.policy_target", "'orig'", "renamed 'normalised_q'"]),
    ("search: {root_actions: sample}\n", ["search.root_actions", "'sample'", "search.root_selection"]),
    ("search: {temperature: [{until: 5, early: 1, late: 1}]}\n", ["search.temperature", "until is null"]),
    ("train: {bf16: yes please}\n", ["train.bf16", "'yes please'", "true, false or auto"]),
    ("train: {bf16: 1}\n", ["train.bf16", "1", "true, false or auto"]),
    ("train: {value_bootstrap: target}\n", ["train.value_bootstrap", "'target'", "stored, fresh"]),
    ("train: {target_interval: 0}\n", ["train.target_interval", "0", "> 0"]),
    ("train: {observation_weight: 1}\n", ["train.observation_weight", "1", "vector observations", "mlp", "not conv"]),
    ("train: {observation_weight: -1}\n", ["train.observation_weight", "-1", ">= 0"]),
    ("env: {frame_size: [64]}\n", ["env.frame_size", "[64]"]),
    ("grayscale: true\n", ["grayscale", "unknown key"]),
    ("env: [1, 2]\n", ["env", "mapping"]),
]
# keys of earlier versions -> the key that replaced them: one line naming it
RENAMED = {"search.num_searches": "search.root_actions", "train.discount": "env.discount",
           "train.max_replay_ratio": "train.replay_ratio", "selfplay.envs": "selfplay.games_in_flight",
           "selfplay.eval_noop_max": "eval.noop_max", "selfplay.eval_sticky": "eval.sticky_actions",
           "train.eval_ema_half_life": "eval.ema_half_life"}
# options measured without a win and removed: one line saying so
REMOVED = ["network.patch_size", "train.reanalyze", "train.reanalyze_values", "train.augment_shift",
           "train.consistency_weight"]
BAD += [("{}: {{{}: 1}}\n".format(*old.split(".")), [old, f"renamed {new}"]) for old, new in RENAMED.items()]
BAD += [("{}: {{{}: 1}}\n".format(*key.split(".")), [key, "removed", "docs/experiments.md"]) for key in REMOVED]


# every subcommand loads the config before it touches the run folder; these extras would make it run briefly
COMMANDS = {"selfplay": ["--games", "1"], "train": ["--steps", "1"], "run": ["--seconds", "1", "--workers", "1"],
            "eval": ["--games", "1"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("text,words", BAD)
def test_bad_config_one_line_error(tmp_path, capsys, text, words, command):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main([command, "--config", str(path), "--run-dir", str(tmp_path / "run"), *COMMANDS[command]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    for w in words:
        assert w in err
    assert not (tmp_path / "run").exists()          # nothing written: no games/, gifs/ or checkpoints/


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_missing_file_and_yaml_syntax(tmp_path, capsys, command):
    run = tmp_path / "run"
    assert main([command, "--config", str(tmp_path / "nope.yaml"), "--run-dir", str(run), *COMMANDS[command]]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml: file not found" in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "syntax.yaml"
    bad.write_text("env:\n  id: [unclosed\n")
    assert main([command, "--config", str(bad), "--run-dir", str(run), *COMMANDS[command]]) == 2
    err = capsys.readouterr().err
    assert "syntax.yaml: YAML syntax error at line" in err and len(err.strip().splitlines()) == 1
    assert not run.exists()


def test_exit_code_2_from_a_real_process(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train: {lr: -1}\n")
    r = cli("train", "--config", path, "--run-dir", tmp_path / "run", timeout=60)
    assert r.returncode == 2 and "train.lr = -1" in r.stderr and not (tmp_path / "run").exists()


def test_shipped_configs_load():
    for name in ("mario", "cartpole", "mountaincar", "orig"):
        cfg = load_config(ROOT / "configs" / f"{name}.yaml")
        assert cfg.env.discount > 0


def test_the_defaults_are_the_shipped_mario_config():
    assert load_config(ROOT / "configs" / "mario.yaml") == config_from_dict({})


def test_overworld_config_is_the_shipped_mario_config_on_the_originals_levels():
    ow = load_config(ROOT / "configs" / "mario_overworld.yaml")
    assert ow.env.levels == load_config(ROOT / "configs" / "orig.yaml").env.levels
    assert ow.env.held_out_levels == ["1-2", "2-2"]
    same_levels = dataclasses.replace(ow, env=dataclasses.replace(ow.env, levels=["1-1"], held_out_levels=[]))
    assert same_levels == load_config(ROOT / "configs" / "mario.yaml")


def test_orig_preset_holds_the_original_values():
    # docs/algorithm.md marks these (orig): they live in configs/orig.yaml, not in the defaults
    o = load_config(ROOT / "configs" / "orig.yaml")
    assert (o.env.frame_size, o.env.grayscale, o.env.stack_moves, o.env.reward_scale, o.env.discount) == ([96, 96], False, 10, 1.0, 0.9)
    assert len(o.env.levels) == 13 and o.network.channels == 256
    assert (o.search.root_actions, o.search.search_depth, o.search.q_rule, o.search.policy_target) == (3, 3, "mean", "normalised_q")
    assert (o.selfplay.random_games, o.selfplay.gif_every) == (100, 1)
    t = o.train
    assert (t.batch_size, t.lr, t.window_size, t.checkpoint_interval, o.eval.ema_half_life) == (128, 2e-4, 115000, 200, 0)
    assert (t.bootstrap_truncated, t.replay_ratio, t.exploration_weight, t.exploration_lr_ratio) == (False, 0, 4e-4, 0.25)


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(ROOT / "configs" / "cartpole.yaml")
    path = save_resolved_config(cfg, tmp_path)
    again = config_from_dict(yaml.safe_load(path.read_text()), str(path))
    assert again == cfg


def test_model_digest_tracks_shapes_only():
    cfg = config_from_dict({})
    assert model_digest(cfg) == model_digest(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, lr=1.0)))
    assert model_digest(cfg) != model_digest(dataclasses.replace(cfg, network=dataclasses.replace(cfg.network, channels=8)))
    # frames without the moves that led to them: another input shape, so another digest
    assert model_digest(cfg) != model_digest(dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, action_history=False)))


def test_temperature_schedule_original():
    s = load_config(ROOT / "configs" / "orig.yaml").search   # orig: 4 <500, 6/5 <1000, 7 <2000, 8 <3000, then 9/7
    assert [temperature_at(s, 10, 0), temperature_at(s, 700, 10), temperature_at(s, 700, 300)] == [4, 6, 5]
    assert [temperature_at(s, 2500, 0), temperature_at(s, 9000, 224), temperature_at(s, 9000, 225)] == [8, 9, 7]


def test_error_type_is_value_error():
    with pytest.raises(ConfigError, match=r"<config>: seed = 'x': must be an integer"):
        config_from_dict({"seed": "x"})


def test_model_digest_of_the_shipped_configs_is_stable():
    # the digests that earlier checkpoints carry (made with and before network.patch_size): they must keep loading
    assert model_digest(load_config(ROOT / "configs" / "mario.yaml")) == "1d678a567e8481ff"
    assert model_digest(load_config(ROOT / "configs" / "cartpole.yaml")) == "02ab7ec86f3c473d"
