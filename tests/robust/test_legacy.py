"""Runs written before the training defense was renamed from "strategy" still load, resume and reproduce.

The fixture is a real run folder written by ``vaeadv robust train --train-strats fgsm`` at commit fd9f357 (the
last one before the rename; width 2, 64 images, 1 epoch): its checkpoint's hyper-parameters say
``strategy="fgsm"`` and its results.json says ``"strategies": ["fgsm"]`` and ``"strategy": "fgsm"``."""

import json
import shutil
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from vaeadv.cli import main
from vaeadv.cli.robust import train_command
from vaeadv.report.answers import answers
from vaeadv.report.store import training_key
from vaeadv.robust.config import RobustTrainConfig
from vaeadv.robust.models import load_classifier
from vaeadv.robust.module import RobustClassifier

FIXTURE = Path(__file__).parent / "fixtures" / "pre_defense_rename"
REPO = Path(__file__).resolve().parents[2]


def test_an_old_checkpoint_loads_as_its_defense():
    ckpt = FIXTURE / "old" / "fgsm" / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True)
    assert saved["hyper_parameters"]["strategy"] == "fgsm" and "defense" not in saved["hyper_parameters"]
    module = RobustClassifier.load_from_checkpoint(ckpt, weights_only=True)
    assert module.hparams.defense == "fgsm" and "strategy" not in module.hparams
    model = load_classifier(ckpt)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_an_old_results_config_keys_and_reproduces_as_today():
    old = json.loads((FIXTURE / "old" / "fgsm" / "results.json").read_text())["config"]
    assert "strategies" in old and "defenses" not in old
    today = RobustTrainConfig(defenses=("fgsm",), recipe="fast", epochs=1, train_subset=64, width=2,
                              limit_val_batches=1, test_subset=50, pgd_steps=1, seed=3)
    assert training_key(old) == training_key(today)  # the report reuses the old run
    assert train_command(old).startswith("vaeadv robust train --defense fgsm ")


def test_an_old_run_folder_resumes_under_todays_code(real_data_dir, tmp_path, capsys):
    shutil.copytree(FIXTURE, tmp_path / "logs")
    assert main(["robust", "train", "--defense", "fgsm", "--recipe", "fast", "--epochs", "2", "--train-subset", "64",
                 "--width", "2", "--limit-val-batches", "1", "--test-subset", "50", "--pgd-steps", "1", "--seed",
                 "3", "--no-attack", "--data-dir", str(real_data_dir), "--log-dir", str(tmp_path / "logs"),
                 "--run-name", "old", "--resume", "--no-progress"]) == 0
    run = tmp_path / "logs" / "old" / "fgsm"
    resumed = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert (resumed["epoch"], resumed["global_step"]) == (2, 2)  # one more epoch than the (1, 1) it was saved at
    assert resumed["hyper_parameters"]["defense"] == "fgsm"
    assert json.loads((run / "results.json").read_text())["defense"] == "fgsm"


def test_the_committed_report_rows_written_before_the_rename_are_still_quoted():
    results = json.loads((REPO / "docs" / "report-cpu" / "results.json").read_text())["results"]
    assert "strategy" in results["adversarial_matrix"]["rows"][0]  # written before the rename
    q22 = dict(answers(results))["Q2.2 (defense results)."]
    assert "(missing)" not in q22


def test_the_recorded_command_reproduces_the_run_through_the_real_command_line(monkeypatch, tmp_path):
    """train_command's output, parsed by the real `vaeadv robust train`, gives back the settings that trained the
    run: the fast-AT budget in pixel units, the switches, and the guard."""
    import shlex

    import vaeadv.robust.train as train

    run = RobustTrainConfig(defenses=("fgsm-rs",), recipe="fast-at", epochs=4, augment=True, cutout=12,
                            ema_decay=0.99, label_smoothing=0.05, units="pixel", fgsm_eps=8 / 255, pgd_eps=8 / 255,
                            pgd_alpha=2 / 255,
                            pgd_steps=7, pgd_random_start=True, cross_over=True, overfit_guard=False,
                            train_subset=300, eval_limit=50, seed=5, run_name="fast", log_dir=str(tmp_path))
    seen = []
    monkeypatch.setattr(train, "train_defenses", lambda cfg: seen.append(cfg) or [])
    argv = shlex.split(train_command(asdict(run)))
    assert argv[:3] == ["vaeadv", "robust", "train"]
    assert main([*argv[1:], "--log-dir", str(tmp_path), "--no-progress"]) == 0
    (parsed,) = seen
    for field in ("defenses", "recipe", "epochs", "augment", "cutout", "ema_decay", "label_smoothing", "units",
                  "fgsm_eps", "pgd_eps", "pgd_alpha", "pgd_steps", "pgd_random_start", "cross_over", "overfit_guard",
                  "train_subset", "eval_limit", "seed", "run_name", "attack"):
        assert getattr(parsed, field) == getattr(run, field), field


def test_configs_recorded_before_weights_hashes_are_keyed_by_the_file_shipped_then():
    """Runs recorded before configs held the hash of their --pretrained weights started from the one file each
    name had shipped: the fast-AT file, whose hash its own attack results recorded, still matches the shipped
    file, so its report rows stay valid; a run from scratch keys exactly as before (no hash in its key)."""
    from vaeadv import registry

    measured = json.loads((REPO / "docs" / "results" / "fast_at" / "strong_pixel.json").read_text())["weights_sha256"]
    old = {"defenses": ["standard"], "pretrained": "vaeadv-fast-at", "epochs": None}
    assert training_key(old)["pretrained_sha256"] == measured == registry.weights_sha256("vaeadv-fast-at")
    today = RobustTrainConfig(defenses=("standard",), pretrained="vaeadv-fast-at")
    recorded_before = {k: v for k, v in asdict(today).items() if k != "pretrained_sha256"}
    assert training_key(recorded_before) == training_key(today)
    assert "pretrained_sha256" not in training_key(RobustTrainConfig())


@pytest.mark.parametrize(("field", "value", "named"), [("cutout", 16, "_cutout16"), ("ema_decay", 0.999, "_ema0.999")])
def test_later_training_fields_key_a_run_only_when_used(field, value, named):
    """Runs recorded before --cutout and --ema existed trained without them and keep their keys; a run with one
    is another run."""
    plain = RobustTrainConfig(recipe="pretrain", augment=True)
    recorded_before = {k: v for k, v in asdict(plain).items() if k != field}
    assert training_key(recorded_before) == training_key(plain) and field not in training_key(plain)
    used = RobustTrainConfig(recipe="pretrain", augment=True, **{field: value})
    assert training_key(used)[field] == value and training_key(used) != training_key(plain)
    assert used.default_run_name() == f"pretrain_aug{named}_seed42"


def test_a_vae_config_keys_its_ema_decay_as_before():
    """Only a classifier's later fields are dropped when unset: a VAE's key has always held its ema_decay."""
    from vaeadv.vae.config import VAETrainConfig

    assert training_key(VAETrainConfig())["ema_decay"] == 0.0


def test_compile_keys_a_run_only_when_used_and_reproduces():
    """Runs recorded before --compile existed ran uncompiled and keep their keys; the command of a compiled run
    says --compile."""
    from vaeadv.cli.robust import train_command

    plain = RobustTrainConfig(recipe="pretrain", augment=True)
    recorded_before = {k: v for k, v in asdict(plain).items() if k != "compile"}
    assert training_key(recorded_before) == training_key(plain) and "compile" not in training_key(plain)
    compiled = RobustTrainConfig(recipe="pretrain", augment=True, compile=True)
    assert training_key(compiled)["compile"] is True
    assert "--compile" in train_command(asdict(compiled)) and "--compile" not in train_command(asdict(plain))


def test_label_smoothing_is_keyed_by_its_value_and_old_pretrain_runs_keep_theirs():
    """The pretrain recipe trained with label smoothing 0.1 until it became a setting (default: plain cross-entropy):
    a pretrain run recorded before then keeps its key, which now means "smoothed, 0.1", and today's default is
    another run; a run of any other recipe recorded before then keys as it always did; "the recipe's" and the same
    value given explicitly are one run; and the reproduction command states the smoothing an old run used."""
    from vaeadv.cli.robust import train_command

    old_pretrain = {k: v for k, v in asdict(RobustTrainConfig(recipe="pretrain")).items() if k != "label_smoothing"}
    assert "label_smoothing" not in training_key(old_pretrain)  # the key it was stored under
    assert training_key(old_pretrain) == training_key(RobustTrainConfig(recipe="pretrain", label_smoothing=0.1))
    assert training_key(RobustTrainConfig(recipe="pretrain"))["label_smoothing"] == 0.0
    assert training_key(old_pretrain) != training_key(RobustTrainConfig(recipe="pretrain"))
    assert training_key(RobustTrainConfig(recipe="pretrain")) == training_key(
        RobustTrainConfig(recipe="pretrain", label_smoothing=0.0))
    old_template = {k: v for k, v in asdict(RobustTrainConfig()).items() if k != "label_smoothing"}
    assert "label_smoothing" not in training_key(old_template)
    assert training_key(old_template) == training_key(RobustTrainConfig())
    assert "--label-smoothing 0.1" in train_command(old_pretrain)
    assert "--label-smoothing 0.0" in train_command(asdict(RobustTrainConfig(recipe="pretrain", label_smoothing=0.0)))
    assert "--label-smoothing" not in train_command(asdict(RobustTrainConfig(recipe="pretrain")))


def test_the_published_smoothed_row_is_not_taken_for_todays_pretrain_recipe():
    """The published run matrix stored its 20-epoch pretrain row (trained with label smoothing 0.1) under a key
    the old code computed: that key still names the old run, and today's default recipe keys differently, so the
    row is re-measured rather than reused; the Part 2 experiments' keys say which recipe changed."""
    from vaeadv.report.store import config_hash

    stored = json.loads((REPO / "docs/report/results/matrix_rows/plain-d18870488cda.json").read_text())
    recorded = stored["config"]["training"]
    assert recorded["recipe"] == "pretrain" and "label_smoothing" not in recorded
    assert training_key(recorded) == recorded  # read back, the old run keeps its key
    today = RobustTrainConfig(recipe="pretrain", epochs=20, seed=0, width=64)
    assert config_hash(training_key(today)) != config_hash(training_key(recorded))
    assert training_key({**recorded, "label_smoothing": 0.1}) == recorded


def test_experiment_keys_change_only_where_a_model_trains_with_the_pretrain_recipe():
    """The real scale's run matrix and transfer models train with the pretrain recipe (its smoothing changed: those
    results are stale); its curves train only fine-tunes from shipped weights, the cpu scale's Part 2 uses the
    fast recipe, and Part 1 no classifier recipe at all (their results stand)."""
    from vaeadv.report.context import Context
    from vaeadv.report.run import experiment_config
    from vaeadv.report.scales import SCALES

    real, cpu = Context(Path("/nonexistent"), SCALES["real"]), Context(Path("/nonexistent"), SCALES["cpu"])
    for name in ("adversarial_matrix", "transfer"):
        assert experiment_config(real, name)["recipe_label_smoothing"] == {"pretrain": 0.0}
    for name in ("adversarial_matrix", "robustness_curves", "transfer"):
        assert "recipe_label_smoothing" not in experiment_config(cpu, name)
    assert "recipe_label_smoothing" not in experiment_config(real, "robustness_curves")
    for name in ("vae_main", "beta_sweep"):
        assert "recipe_label_smoothing" not in experiment_config(real, name)
