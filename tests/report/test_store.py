"""The report's one reuse layer: a stored result or a finished run is reused only under exactly the settings
that produced it (the whole config, code defaults included); what only says where or how loudly it ran is not
part of that key."""

import json
from dataclasses import asdict, replace
from pathlib import Path

from vaeadv.report import run as report_run
from vaeadv.report.context import Context
from vaeadv.report.scales import SCALES
from vaeadv.report.store import find_run, reuse_or_train, run_dir_name, training_key
from vaeadv.robust.config import RobustTrainConfig

REPO = Path(__file__).resolve().parents[2]


def _finished_run(root: Path, cfg: RobustTrainConfig, name: str = "somewhere") -> Path:
    run_dir = root / name / "fgsm"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "best-epoch=004.ckpt").write_bytes(b"x")
    recorded = {"config": asdict(cfg), "epochs": cfg.epochs, "run_dir": "/old/place/fgsm",
                "best_checkpoint": "/old/place/fgsm/checkpoints/best-epoch=004.ckpt"}
    (run_dir / "results.json").write_text(json.dumps(recorded))
    return run_dir


def test_the_training_key_is_the_whole_config_but_where_and_how_it_reports():
    cfg = RobustTrainConfig(defenses=("fgsm",), epochs=5)
    moved = replace(cfg, log_dir="/elsewhere", run_name="x", data_dir="/data", resume=True, progress=False,
                    attack=False, cross_over=True, eval_limit=10)
    assert training_key(moved) == training_key(cfg) and run_dir_name("a", moved) == run_dir_name("a", cfg)
    for change in ({"epochs": 6}, {"seed": 0}, {"fgsm_alpha": 0.25}, {"augment": True}, {"pretrained": "w"}):
        assert training_key(replace(cfg, **change)) != training_key(cfg), change
    assert training_key(cfg)["pgd_steps"] == 10  # a code default is part of the key: changing it re-trains
    assert training_key(asdict(cfg)) == training_key(cfg)  # as recorded in results.json (tuples become lists)


def test_a_finished_run_is_found_wherever_it_was_copied_and_rebased(tmp_path):
    cfg = RobustTrainConfig(defenses=("fgsm",), epochs=5, seed=0)
    run_dir = _finished_run(tmp_path, replace(cfg, log_dir="/cli/logs", run_name="finetune_aug"))
    calls = []
    found = reuse_or_train(cfg, tmp_path, lambda: calls.append(1) or {}, lambda r: r["epochs"] == 5)
    assert calls == [] and found["run_dir"] == str(run_dir)
    assert found["best_checkpoint"] == str(run_dir / "checkpoints" / "best-epoch=004.ckpt")
    assert find_run(tmp_path, replace(cfg, epochs=6), lambda r: True) is None  # other settings: not this run
    assert find_run(tmp_path, cfg, lambda r: r["epochs"] == 6) is None  # not finished
    reuse_or_train(replace(cfg, seed=1), tmp_path, lambda: calls.append(1) or {}, lambda r: True)
    assert calls == [1]
    assert find_run(tmp_path / "absent", cfg, lambda r: True) is None


def test_results_stored_before_the_later_scale_fields_still_load():
    """The committed cpu-scale report was stored before the real scale's fields existed: it must still render
    every experiment from its stored results, not as missing."""
    ctx = Context(REPO / "docs" / "report-cpu", SCALES["cpu"])
    results = report_run.load_results(ctx)
    assert all(results[name] is not None for name in results), [n for n, r in results.items() if r is None]
    real = SCALES["real"].as_config()
    assert real["cifar_seed"] == 0 and len(real["cifar_models"]) == 9  # set fields are part of the key
    assert [m["load_only"] for m in real["cifar_models"]] == [False] * 8 + [True]  # the shipped fast-AT model


def test_a_vae_config_keys_the_same_recorded_or_live():
    from vaeadv.vae.config import VAETrainConfig

    cfg = VAETrainConfig(z_dim=2, epochs=3)
    assert training_key(json.loads(json.dumps(asdict(cfg)))) == training_key(cfg)
    assert "pgd_random_start" not in training_key(cfg)  # the robust half's later fields stay out of a VAE's key


def test_the_committed_80_epoch_vae_run_is_recognised_as_the_real_scales_z20_training():
    """docs/results/vae_default was recorded before weight decay, EMA and compile existed: at their defaults it
    is the same training as the real scale's z=20 VAE, so the report reuses it instead of retraining 46 minutes.
    Any setting that changes the model still tells them apart."""
    from vaeadv.vae.config import VAETrainConfig

    recorded = json.loads((REPO / "docs" / "results" / "vae_default" / "results.json").read_text())["config"]
    assert not {"weight_decay", "ema_decay", "compile"} & set(recorded)  # the premise: an older config
    real = SCALES["real"]
    live = VAETrainConfig(z_dim=20, beta=1.0, epochs=real.vae_epochs, train_subset=real.vae_train_subset,
                          sample_every=real.vae_sample_every, resume=True, progress=False)
    assert training_key(recorded) == training_key(live)
    for change in ({"ema_decay": 0.999}, {"compile": True}, {"z_dim": 2}, {"lr": 3e-3}):
        assert training_key(recorded) != training_key(replace(live, **change)), change


def _training_layout(root: Path, cfg: RobustTrainConfig) -> Path:
    """A finished ``robust train`` folder as training leaves it: logs, a lock, the last and the best checkpoint."""
    run_dir = _finished_run(root, cfg, "robust_logs/finetune_aug")
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"last")
    (run_dir / "tensorboard").mkdir()
    (run_dir / "tensorboard" / "events").write_bytes(b"e")
    (run_dir / ".lock").write_text("123")
    (run_dir / "curves.png").write_bytes(b"png")
    return run_dir


def test_a_run_found_elsewhere_is_copied_in_without_logs_or_other_checkpoints(tmp_path):
    cfg = RobustTrainConfig(defenses=("fgsm",), epochs=5, seed=0)
    source = _training_layout(tmp_path / "cli", cfg)
    into = tmp_path / "report" / "runs" / "robust" / "aug-x" / "fgsm"
    (into / "checkpoints").mkdir(parents=True)  # an interrupted report training of the same config
    (into / "checkpoints" / "last.ckpt").write_bytes(b"partial")
    calls = []
    found = reuse_or_train(cfg, tmp_path / "report" / "runs" / "robust", lambda: calls.append(1), lambda r: True,
                           elsewhere=(tmp_path / "empty", tmp_path / "cli"), into=into)
    assert calls == [] and found["run_dir"] == str(into)
    assert found["best_checkpoint"] == str(into / "checkpoints" / "best-epoch=004.ckpt")
    assert sorted(p.relative_to(into).as_posix() for p in into.rglob("*")) == [
        "checkpoints", "checkpoints/best-epoch=004.ckpt", "curves.png", "results.json"]
    assert (source / "checkpoints" / "last.ckpt").exists()  # the source is left as it was
    assert not list(into.parent.glob(".*adopting"))
    # next time it is found in the report folder itself, and nothing is copied again
    again = reuse_or_train(cfg, tmp_path / "report" / "runs", lambda: calls.append(1), lambda r: True,
                           elsewhere=(tmp_path / "cli",), into=tmp_path / "never")
    assert again["run_dir"] == str(into) and not (tmp_path / "never").exists() and calls == []


def test_a_committed_run_keeps_its_best_checkpoint_as_best_ckpt(tmp_path):
    """docs/results/<run> holds best.ckpt beside results.json, not checkpoints/<recorded name>."""
    cfg = RobustTrainConfig(defenses=("fgsm",), epochs=5)
    run_dir = tmp_path / "docs" / "results" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "best.ckpt").write_bytes(b"w")
    (run_dir / "results.json").write_text(json.dumps({"config": asdict(cfg), "epochs": 5, "run_dir": "/x",
                                                      "best_checkpoint": "/x/checkpoints/best-epoch=077.ckpt"}))
    into = tmp_path / "report" / "run"
    found = reuse_or_train(cfg, tmp_path / "report", lambda: None, lambda r: True,
                           elsewhere=(tmp_path / "docs",), into=into)
    assert found["best_checkpoint"] == str(into / "checkpoints" / "best-epoch=077.ckpt")
    assert (into / "checkpoints" / "best-epoch=077.ckpt").read_bytes() == b"w"
    again = find_run(tmp_path / "report", cfg, lambda r: True)  # read back from the copy's own results.json
    assert again["best_checkpoint"] == found["best_checkpoint"]


def test_results_committed_without_their_checkpoint_are_not_a_reusable_run(tmp_path):
    """docs/results/finetune_fgsm keeps results.json but no weights: the run found elsewhere with them is used."""
    cfg = RobustTrainConfig(defenses=("fgsm",), epochs=5, seed=0)
    bare = _finished_run(tmp_path / "docs", cfg, "results")
    (bare / "checkpoints" / "best-epoch=004.ckpt").unlink()
    assert find_run(tmp_path / "docs", cfg, lambda r: True) is None
    source = _training_layout(tmp_path / "cli", cfg)
    into = tmp_path / "report" / "fgsm"
    found = reuse_or_train(cfg, tmp_path / "report", lambda: None, lambda r: True,
                           elsewhere=(tmp_path / "docs", tmp_path / "cli"), into=into)
    assert (into / "checkpoints" / "best-epoch=004.ckpt").read_bytes() == b"x"
    assert found["run_dir"] == str(into) and source.is_dir()


def test_every_scale_setting_keys_exactly_one_half_of_the_report_or_none():
    """A setting left out of both halves would key no result (a changed value reusing a stale number)."""
    from dataclasses import fields

    from vaeadv.report.scales import PART1_FIELDS, PART2_FIELDS, PROSE_FIELDS, Scale

    names = {f.name for f in fields(Scale)} - {"name"}
    assert not PART1_FIELDS & PART2_FIELDS and not (PART1_FIELDS | PART2_FIELDS) & PROSE_FIELDS
    assert PART1_FIELDS | PART2_FIELDS | PROSE_FIELDS == names


def test_a_change_to_one_experiment_leaves_the_others_stored_results_standing(tmp_path):
    """The published report's results (some stored with the whole real scale as key, as the z=2 manifold's):
    a new summary (prose) leaves them all valid; a shorter β sweep makes the β sweep stale and nothing else (the
    z=2 manifold's 80-epoch VAE is not retrained for it); a Part 2 change leaves Part 1 standing."""
    from vaeadv.report.store import ResultStore

    published = ResultStore(REPO / "docs" / "report" / "results")
    part1 = ("vae_main", "vae_manifold", "beta_sweep", "q12_prior_vs_importance", "compression")
    real = SCALES["real"]
    whole = json.loads((published.path("vae_manifold")).read_text())["config"]["scale"]
    assert "attack_images" in whole and "betas" in whole  # stored with the whole scale
    for name in (*part1, "adversarial_matrix"):
        changed = Context(tmp_path, replace(real, summary="another sentence"))
        assert report_run.stored_result(published, changed, name) is not None, name
    shorter = Context(tmp_path, replace(real, beta_epochs=4, beta_train_subset=20000))
    assert report_run.stored_result(published, shorter, "beta_sweep") is None
    for name in (*part1[:2], *part1[3:], "adversarial_matrix"):
        assert report_run.stored_result(published, shorter, name) is not None, name
    assert report_run.stored_result(published, Context(tmp_path, replace(real, iw_samples=7)), "compression") is None
    fewer_images = Context(tmp_path, replace(real, attack_images=500))
    assert report_run.stored_result(published, fewer_images, "adversarial_matrix") is None
    assert all(report_run.stored_result(published, fewer_images, name) is not None for name in part1)


def test_a_stored_result_matches_through_a_view_only_on_what_the_view_keeps(tmp_path):
    from vaeadv.report.store import ResultStore

    store = ResultStore(tmp_path)
    store.put("x", {"a": 1, "b": [1, 2]}, {"value": 3})
    keep_a = lambda c: {"a": c["a"]}  # noqa: E731
    assert store.get("x", {"a": 1}) is None  # without a view: exactly the stored config
    assert store.get("x", {"a": 1, "b": (1, 2)}) == {"value": 3}  # tuples store as lists
    assert store.get("x", {"a": 1, "b": 9}, view=keep_a) == {"value": 3}
    assert store.get("x", {"a": 2, "b": [1, 2]}, view=keep_a) is None
    assert store.get("x", {"b": 1}, view=keep_a) is None  # a view that cannot read the config: no match


def _scale_fields_read(module, function: str, seen: set[str]) -> set[str]:
    """The Scale fields and methods named in ``function``'s source and in the module's functions it calls (those
    in ``seen`` left out)."""
    import ast
    import inspect
    from dataclasses import fields

    from vaeadv.report.scales import Scale

    names = {f.name for f in fields(Scale)} | {n for n, v in vars(Scale).items() if callable(v)}
    seen.add(function)
    out = set()
    for node in ast.walk(ast.parse(inspect.getsource(getattr(module, function)))):
        if isinstance(node, ast.Attribute) and node.attr in names:
            out.add(node.attr)
        called = getattr(module, node.id, None) if isinstance(node, ast.Name) else None
        if inspect.isfunction(called) and called.__module__ == module.__name__ and node.id not in seen:
            out |= _scale_fields_read(module, node.id, seen)
    return out


def _planned_runs_read(name: str) -> set[str]:
    """The Scale fields that change Part 1 experiment ``name``'s planned VAE runs, found by changing each field in
    turn (``planned_runs`` lists every experiment's runs, so reading its code would credit each with all)."""
    from dataclasses import fields

    from vaeadv.report.vae_experiments import planned_runs

    def other(value):
        if isinstance(value, tuple):
            return (*value, 3)
        if isinstance(value, str):
            return value + "-other"
        return 7 if value is None else value + 1

    real = SCALES["real"]
    return {f.name for f in fields(real) if f.name not in ("name", "summary", "notes")
            and planned_runs(replace(real, **{f.name: other(getattr(real, f.name))}))[name] != planned_runs(real)[name]}


def test_each_experiment_reads_only_the_scale_settings_its_key_holds():
    """Read off the code: an experiment that read a setting outside its key would reuse a stale result when only
    that setting changed. (The Scale methods the robust half calls read its run matrix.)"""
    import sys

    from vaeadv.report.scales import PART1_EXPERIMENTS, PART1_READS, PART2_EXPERIMENTS, PART2_FIELDS

    assert set(PART1_READS) == set(PART1_EXPERIMENTS)
    assert _planned_runs_read("beta_sweep") == {"betas", "beta_epochs", "beta_train_subset"}  # the probe sees
    for names, own_of in ((PART1_EXPERIMENTS, PART1_READS), (PART2_EXPERIMENTS, dict.fromkeys(PART2_EXPERIMENTS,
                                                                                               PART2_FIELDS))):
        for name in names:
            function = report_run.EXPERIMENTS[name]
            own = own_of[name]
            read = _scale_fields_read(sys.modules[function.__module__], function.__name__, {"planned_runs"})
            if name in PART1_READS:
                read |= _planned_runs_read(name)
            allowed = {"name", "matrix_models", "curve_models", "shipped_standard", "experiments"}
            assert read - own <= allowed, (name, read - own)
            assert read & own, name  # the scan sees the settings it reads
