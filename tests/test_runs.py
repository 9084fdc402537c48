"""The run-folder life cycle (vaeadv.runs): lock, relocatable checkpoints, checked resume, trainer settings."""

import os
import subprocess
import sys

import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.progress import EpochLine, TrainingClock
from vaeadv.runs import (
    RunCheckpoint,
    check_devices,
    check_run_size,
    estimate_run_bytes,
    make_trainer,
    resume_checkpoint,
    run_lock,
    timed_last_checkpoint,
)


def _other_process(alive: bool) -> tuple[int, subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)" if alive else "pass"])
    if not alive:
        proc.wait()
    return proc.pid, proc


def test_a_live_owner_is_refused_and_a_dead_one_taken_over(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pid, proc = _other_process(alive=True)
    try:
        (run / ".lock").write_text(f"{pid}\n")
        with pytest.raises(VaeadvError, match=f"in use by process {pid}"):
            with run_lock(run):
                pass
    finally:
        proc.kill()
        proc.wait()
    dead, _ = _other_process(alive=False)
    (run / ".lock").write_text(f"{dead}\n")
    with run_lock(run) as lock:
        assert lock.read_text().strip() == str(os.getpid())
    assert not (run / ".lock").exists()  # released


def test_lock_refuses_a_file_in_the_way(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(VaeadvError, match="is a file, not a folder"):
        with run_lock(tmp_path / "afile" / "run"):
            pass


def test_checkpoint_paths_are_stored_relative_and_rebased_after_a_move(tmp_path):
    old, new = tmp_path / "A" / "checkpoints", tmp_path / "B" / "checkpoints"
    writer = RunCheckpoint(dirpath=old, monitor="val", save_top_k=1, save_last=True)
    best = old / "best-epoch=003.ckpt"
    writer.best_model_path, writer.last_model_path = str(best), str(old / "last.ckpt")
    writer.best_k_models = {str(best): torch.tensor(0.5)}
    writer.kth_best_model_path = str(best)
    state = writer.state_dict()
    assert state["best_model_path"] == "best-epoch=003.ckpt" and state["dirpath"] == "."
    assert str(tmp_path) not in repr(state)  # nothing machine- or folder-specific is stored
    reader = RunCheckpoint(dirpath=new, monitor="val", save_top_k=1, save_last=True)
    reader.load_state_dict(state)
    assert reader.best_model_path == str(new / "best-epoch=003.ckpt")
    assert reader.last_model_path == str(new / "last.ckpt") and list(reader.best_k_models) == [str(new / best.name)]
    # a checkpoint written by older code (absolute paths of a folder that has since moved) is rebased too
    legacy = dict(state, best_model_path=str(best), dirpath=str(old))
    reader.load_state_dict(legacy)
    assert reader.best_model_path == str(new / "best-epoch=003.ckpt")
    assert reader._enable_version_counter is False  # last.ckpt is overwritten, never last-v1.ckpt


def _ckpt(path, **hparams):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": hparams}, path)
    return path


def test_resume_checks_the_file_and_the_settings(tmp_path):
    last = _ckpt(tmp_path / "last.ckpt", z_dim=20, lr=1e-3)
    assert resume_checkpoint(last, True, {"z_dim": 20, "lr": 1e-3}) == str(last)
    assert resume_checkpoint(last, False, {"z_dim": 20}) is None
    assert resume_checkpoint(tmp_path / "missing.ckpt", True, {}) is None
    with pytest.raises(VaeadvError, match=r"other settings \(z_dim 20 → 4\)"):
        resume_checkpoint(last, True, {"z_dim": 4, "lr": 1e-3})
    last.write_bytes(last.read_bytes()[:100])
    with pytest.raises(VaeadvError, match="not a loadable PyTorch checkpoint"):
        resume_checkpoint(last, True, {})


def test_malicious_resume_checkpoint_runs_nothing_even_when_the_environment_allows_it(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    last = tmp_path / "last.ckpt"
    torch.save({"state_dict": Evil(), "hyper_parameters": {}}, last)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(VaeadvError, match=r"asks to run code \(posix.system\)"):
        resume_checkpoint(last, True, {})
    assert not marker.exists()


def test_device_counts_beyond_the_machine_are_refused():
    cores = os.cpu_count()
    check_devices("cpu", cores)  # fine
    with pytest.raises(VaeadvError, match=f"more than this machine has \\({cores} CPU cores\\)"):
        check_devices("cpu", cores + 1)
    with pytest.raises(VaeadvError, match="at least 1"):
        check_devices("cpu", 0)
    if not torch.cuda.is_available():
        with pytest.raises(VaeadvError, match="0 GPUs"):
            check_devices("gpu", 1)


@pytest.mark.parametrize("setting", [{"accelerator": "banana"}, {"strategy": "banana"}, {"precision": "banana"}])
def test_rejected_trainer_settings_are_one_line(setting):
    with pytest.raises(VaeadvError, match="Lightning refused the trainer settings") as info:
        make_trainer(logger=False, enable_checkpointing=False, **setting)
    assert "\n" not in str(info.value)


def test_run_size_estimate_and_refusal(tmp_path):
    model = torch.nn.Linear(1000, 1000)  # 1,001,000 fp32 parameters
    assert estimate_run_bytes(model) == 2 * 3 * 1_001_000 * 4
    check_run_size(model, tmp_path, force=False)
    huge = torch.nn.Linear(10_000, 10_000)  # 0.4 GB of weights: 2.4 GB of checkpoints
    with pytest.raises(VaeadvError, match="about 2.4 GB"):
        check_run_size(huge, tmp_path, force=False)
    check_run_size(huge, tmp_path, force=True)


def test_a_run_of_exactly_the_limit_or_of_exactly_the_free_space_is_allowed_and_the_refusal_is_whole(tmp_path,
                                                                                                    monkeypatch):
    import shutil
    from collections import namedtuple

    import vaeadv.runs as runs_module

    usage = namedtuple("usage", "total used free")
    model = torch.nn.Linear(1, 1)
    monkeypatch.setattr(runs_module, "estimate_run_bytes", lambda m: runs_module.MAX_RUN_BYTES)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(0, 0, 2 * runs_module.MAX_RUN_BYTES))
    check_run_size(model, tmp_path, force=False)  # 1 GiB is the limit itself: allowed
    monkeypatch.setattr(runs_module, "estimate_run_bytes", lambda m: 3_000_000_000)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(0, 0, 3_000_000_000))
    monkeypatch.setattr(runs_module, "MAX_RUN_BYTES", 4_000_000_000)
    check_run_size(model, tmp_path, force=False)  # exactly the free space: allowed
    # one byte more than the free 2.95 GB; both print as 3.0 at one decimal only when divided by 1e9 exactly
    monkeypatch.setattr(runs_module, "estimate_run_bytes", lambda m: 2_950_000_001)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(0, 0, 2_950_000_000))
    with pytest.raises(VaeadvError) as caught:
        check_run_size(model, tmp_path, force=False)
    assert str(caught.value) == ("this run's checkpoints would take about 3.0 GB (free: 3.0 GB); check the model "
                                 "size flags, or pass --force to write them anyway.")


def test_the_mid_epoch_checkpoint_comes_every_ten_minutes_by_default(tmp_path):
    from datetime import timedelta

    assert timed_last_checkpoint(tmp_path)._train_time_interval == timedelta(minutes=10)


def test_more_epochs_may_continue_a_run(tmp_path):
    last = _ckpt(tmp_path / "last.ckpt", z_dim=20, max_epochs=10, epochs=10)
    assert resume_checkpoint(last, True, {"z_dim": 20, "max_epochs": 20, "epochs": 20}) == str(last)


class _Tiny(__import__("lightning").pytorch.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        return self.layer(x).pow(2).mean()

    def train_dataloader(self):
        data = torch.utils.data.TensorDataset(torch.randn(40, 2))
        return torch.utils.data.DataLoader(data, batch_size=4)  # 10 steps per epoch

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


class _KillAt(__import__("lightning").pytorch.Callback):
    def __init__(self, step):
        self.step = step

    def on_train_batch_end(self, trainer, *args):
        if trainer.global_step == self.step:
            raise RuntimeError("killed")  # the process dies here


def test_the_timed_checkpoint_saves_mid_epoch_and_a_resume_finishes_the_epoch(tmp_path):
    import lightning.pytorch as pl

    def fit(*callbacks, ckpt_path=None):
        trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                             default_root_dir=tmp_path, callbacks=[timed_last_checkpoint(tmp_path, 0.0), *callbacks])
        trainer.fit(_Tiny(), ckpt_path=ckpt_path, weights_only=True)
        return trainer

    with pytest.raises(RuntimeError, match="killed"):
        fit(_KillAt(6))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    # checkpoint callbacks run after the others: the kill in step 6 came before its save, step 5's is there
    assert saved["global_step"] == 5 and saved["epoch"] == 0
    done = fit(ckpt_path=str(tmp_path / "last.ckpt"))
    assert done.global_step == 10 and done.current_epoch == 1  # the rest of the epoch, not a new one


class _Worsening(_Tiny):
    """Validated every epoch on a score that only falls, so the best checkpoint is the first epoch's."""

    def validation_step(self, batch, batch_idx):
        self.log("val", -float(self.current_epoch))

    def val_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(4, 2)), batch_size=4)


@pytest.mark.parametrize("timed", [False, True])
def test_last_ckpt_holds_the_last_epoch_even_when_validation_never_improves_again(tmp_path, timed):
    """Lightning writes last.ckpt beside a validated run's best only when the best improved: without our epoch-end
    save, a run whose last epochs did not improve kept the best epoch's last.ckpt, so its final weights were on no
    disk and a resume after a kill repeated epochs. Three epochs of 10 steps: last.ckpt holds the weights after step
    30, alone and beside the timed checkpoint (the two write the same file)."""
    import lightning.pytorch as pl

    checkpoint = RunCheckpoint(dirpath=tmp_path, filename="best-{epoch}", monitor="val", mode="max", save_top_k=1,
                               save_last=True)
    model = _Worsening()
    timer = [timed_last_checkpoint(tmp_path, 0.0)] if timed else []  # a save at every step, then none at the end
    pl.Trainer(max_epochs=3, logger=False, enable_progress_bar=False, enable_model_summary=False,
               num_sanity_val_steps=0, default_root_dir=tmp_path, callbacks=[checkpoint, *timer]).fit(model)
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 30
    assert torch.equal(saved["state_dict"]["layer.weight"], model.layer.weight.detach())
    assert sorted(p.name for p in tmp_path.glob("*.ckpt")) == ["best-epoch=0.ckpt", "last.ckpt"]


class _Ticks:
    """A clock that moves only when told: 1 s per training step (with ``_Tick``)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _Tick(__import__("lightning").pytorch.Callback):
    def __init__(self, ticks):
        self.ticks = ticks

    def on_train_batch_end(self, *args):
        self.ticks.now += 1.0


def test_the_training_clock_sums_the_sessions_of_a_killed_and_resumed_run(tmp_path):
    import lightning.pytorch as pl

    def fit(clock, ticks, *callbacks, ckpt_path=None):
        trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False,
                             default_root_dir=tmp_path,
                             callbacks=[clock, _Tick(ticks), timed_last_checkpoint(tmp_path, 0.0), *callbacks])
        trainer.fit(_Tiny(), ckpt_path=ckpt_path, weights_only=True)

    first_ticks = _Ticks(1000.0)
    first = TrainingClock(first_ticks)
    with pytest.raises(RuntimeError, match="killed"):
        fit(first, first_ticks, _KillAt(6))
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert saved["global_step"] == 5
    assert saved["callbacks"]["TrainingClock"] == {"seconds": 5.0}  # 5 steps of 1 s were in the weights
    second_ticks = _Ticks(50.0)  # another process: its clock's origin means nothing
    second = TrainingClock(second_ticks)
    fit(second, second_ticks, ckpt_path=str(tmp_path / "last.ckpt"))
    assert second.resumed_seconds == 5.0
    assert second.seconds == 10.0  # 5 s before the kill + steps 6..10 now; the lost 6th step is not counted
    second_ticks.now += 30.0  # time after the end of training (testing, writing results) is not training
    second.load_state_dict({"seconds": 3.0})  # what trainer.test(ckpt_path="best") does: not a resume
    assert second.seconds == 10.0
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"]["TrainingClock"] == {"seconds": 10.0}


def test_the_epoch_line_shows_the_runs_time_from_its_clock():
    import io
    from types import SimpleNamespace

    ticks = _Ticks(0.0)
    clock = TrainingClock(ticks)
    clock.load_state_dict({"seconds": 600.0})  # 10 min in earlier sessions
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, current_epoch=2, max_epochs=4,
                              callback_metrics={"val_acc": torch.tensor(0.5)})
    out = io.StringIO()
    line = EpochLine(clock, stream=out)
    clock.on_train_start(trainer, None)
    ticks.now = 90.0
    line.on_validation_end(trainer, None)
    assert out.getvalue() == "epoch 3/4  val_acc 0.5000  (11.5 min)\n"
    trainer.sanity_checking = True  # the sanity check's validation is not an epoch
    line.on_validation_end(trainer, None)
    assert out.getvalue().count("\n") == 1


def test_first_step_timer_states_the_first_steps_excess():
    from vaeadv.progress import FirstStepTimer

    ticks = iter([0.0, 5.0, 5.0, 6.0, 6.0, 7.0, 7.0, 9.0])  # steps of 5, 1, 1 and 2 seconds
    timer = FirstStepTimer(steps=3, clock=lambda: next(ticks))
    assert timer.excess_seconds is None
    for i in range(4):
        timer.on_train_batch_start(None, None, None, i)
        timer.on_train_batch_end(None, None, None, None, i)
    assert timer.excess_seconds == 5.0 - 1.0  # the median of 1, 1, 2
    timer.on_train_batch_start(None, None, None, 4)  # later steps are not timed: the clock is not read
    timer.on_train_batch_end(None, None, None, None, 4)


# Every field of both configs that a resume may change: where the run is written and how it reports, the hardware
# that carries it on, what is done after training, and the epoch count (a run may be extended). Written out here
# rather than read from vaeadv.settings, so a field moved there by mistake fails this test.
MAY_CHANGE_ON_RESUME = {"data_dir", "download", "log_dir", "run_name", "resume", "progress", "force", "accelerator",
                        "devices", "strategy", "pl_strategy", "compile", "channels_last", "limit_val_batches",
                        "limit_test_batches", "attack", "cross_over", "eval_limit", "holdout_only", "epochs"}


def _changed_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, tuple | list):
        return [*value, "x"]
    return f"{value}-other" if value is not None else 3


@pytest.mark.parametrize("config_class", ["vae", "robust"])
def test_resuming_refuses_a_change_of_any_training_setting(tmp_path, config_class):
    """A checkpoint keeps the run's settings (``TrainingRun.callbacks``): changing any field of the config but those
    above is refused by name, whether or not the network's hyper-parameters record it; the others are allowed."""
    import dataclasses

    from vaeadv.robust.config import RobustTrainConfig
    from vaeadv.runs import TrainingRun
    from vaeadv.vae.config import VAETrainConfig

    cfg = VAETrainConfig(resume=True) if config_class == "vae" else RobustTrainConfig(resume=True)
    shared = () if config_class == "vae" else ("defenses",)  # as robust train builds it: one folder per defense
    run = TrainingRun(tmp_path / "run", cfg, shared)
    last = tmp_path / "last.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": {},
                "callbacks": {"RunSettings": run.callbacks[1].state_dict()}}, last)
    assert resume_checkpoint(last, True, {}, run.settings) == str(last)
    for field in dataclasses.fields(cfg):
        value = "fast" if field.name == "recipe" else _changed_value(getattr(cfg, field.name))  # a real recipe
        other = dataclasses.replace(cfg, **{field.name: value})
        settings = TrainingRun(tmp_path / "run", other, shared).settings
        if field.name in MAY_CHANGE_ON_RESUME or field.name in shared:
            assert resume_checkpoint(last, True, {}, settings) == str(last), field.name
        else:
            with pytest.raises(VaeadvError, match=rf"other settings \(.*\b{field.name} "):
                resume_checkpoint(last, True, {}, settings)


def test_a_checkpoint_written_before_settings_were_kept_is_checked_by_its_hyper_parameters_alone(tmp_path):
    last = _ckpt(tmp_path / "last.ckpt", z_dim=20)
    assert resume_checkpoint(last, True, {"z_dim": 20}, {"train_subset": 5}) == str(last)
    with pytest.raises(VaeadvError, match=r"z_dim 20 → 4"):
        resume_checkpoint(last, True, {"z_dim": 4}, {"train_subset": 5})


def test_an_old_pretrain_checkpoint_is_not_resumed_without_its_label_smoothing(tmp_path):
    """A classifier checkpoint written before label smoothing was recorded trained with its recipe's smoothing of
    then (pretrain: 0.1): resuming it under today's plain cross-entropy is refused, with 0.1 it is allowed; a value
    left to the recipe and the same value given explicitly are one setting."""
    from vaeadv.robust.config import RobustTrainConfig, upgrade_hparams
    from vaeadv.runs import TrainingRun

    last = _ckpt(tmp_path / "last.ckpt", defense="standard", recipe="pretrain", width=64)
    today = {"defense": "standard", "recipe": "pretrain", "width": 64, "label_smoothing": 0.0}
    with pytest.raises(VaeadvError, match=r"label_smoothing 0\.1 → 0\.0"):
        resume_checkpoint(last, True, today, upgrade=upgrade_hparams)
    assert resume_checkpoint(last, True, {**today, "label_smoothing": 0.1}, upgrade=upgrade_hparams) == str(last)
    template = _ckpt(tmp_path / "template.ckpt", defense="standard", recipe="template", width=64)
    assert resume_checkpoint(template, True, {**today, "recipe": "template"}, upgrade=upgrade_hparams)
    implicit = TrainingRun(tmp_path / "a", RobustTrainConfig(recipe="pretrain", resume=True)).settings
    explicit = TrainingRun(tmp_path / "b", RobustTrainConfig(recipe="pretrain", resume=True, label_smoothing=0.0,
                                                             batch_size=256, lr=0.2)).settings
    assert implicit == explicit and implicit["label_smoothing"] == 0.0 and implicit["batch_size"] == 256


def test_a_run_holds_its_folder_until_it_ends_and_a_finished_folder_needs_resume(tmp_path):
    from vaeadv.robust.config import RobustTrainConfig
    from vaeadv.runs import TrainingRun

    run_dir = tmp_path / "run"
    run = TrainingRun(run_dir, RobustTrainConfig())  # kept alive: the release must not wait for garbage collection
    with run:
        assert (run_dir / ".lock").read_text() == f"{os.getpid()}\n"  # held (another process is refused by it)
        (run_dir / "checkpoints").mkdir()
        (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert not (run_dir / ".lock").exists()  # released at the end
    with pytest.raises(VaeadvError) as caught:
        with TrainingRun(run_dir, RobustTrainConfig(resume=False)):
            pass
    assert str(caught.value) == (f"{run_dir} already holds a run (checkpoints/last.ckpt). Pass --resume to continue "
                                 "it, or --run-name / --log-dir for a new one.")
