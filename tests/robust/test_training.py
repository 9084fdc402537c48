import hashlib
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vaeadv.errors import VaeadvError
from vaeadv.robust.module import RobustClassifier, channels_last_pays
from vaeadv.robust.train import RobustTrainConfig, train_defenses


def _captured_inputs(module):
    seen = []
    module.model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.fixture
def batch():
    torch.manual_seed(0)
    return torch.rand(8, 3, 32, 32) * 0.8 + 0.1, torch.randint(0, 10, (8,))


def test_standard_uses_clean_inputs_only(batch):
    module = RobustClassifier("standard", width=4)
    seen = _captured_inputs(module)
    module.training_step(batch, 0)
    assert len(seen) == 1 and torch.equal(seen[0], batch[0])


def test_fgsm_objective_second_pass_is_perturbed_by_eps(batch):
    module = RobustClassifier("fgsm", width=4, eps=0.05, fgsm_alpha=0.5)
    seen = _captured_inputs(module)
    loss = module.training_step(batch, 0)
    assert len(seen) == 2 and torch.equal(seen[0], batch[0])
    delta = (seen[1] - batch[0]).abs()
    assert torch.allclose(delta[delta > 0], torch.tensor(0.05), atol=1e-6) and (delta > 0).float().mean() > 0.9
    loss.backward()
    assert module.model.conv1.weight.grad is not None


def test_pgd_batch_contains_clean_and_adversarial(batch):
    module = RobustClassifier("pgd", width=4, eps=0.03, alpha=0.01, pgd_steps=3)
    seen = _captured_inputs(module)
    module.train()
    module.training_step(batch, 0)
    final = seen[-1]
    assert len(final) == 16 and torch.equal(final[:8], batch[0])
    diff = (final[8:] - batch[0]).abs()
    assert diff.max() <= 0.03 + 1e-6 and diff.mean() > 0.01
    assert module.training, "the attack restores train mode"


def test_channels_last_only_where_onednn_handles_it_and_it_pays():
    assert not channels_last_pays(4, "cpu", "32-true") and not channels_last_pays(4, "cuda", "bf16-mixed")
    assert channels_last_pays(8, "cpu", "32-true") and channels_last_pays(64, "cuda", "bf16-mixed")
    assert not channels_last_pays(64, "cpu", "bf16-mixed")  # measured slower under CPU autocast
    forced = RobustClassifier(width=8, channels_last=True)
    assert forced.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert RobustClassifier(width=8).model.conv1.weight.is_contiguous()  # undecided until fit: device unknown


def test_recipes_build_optimizers():
    m = RobustClassifier("standard", "template", width=4)
    conf = m.configure_optimizers()
    assert conf["optimizer"].defaults["lr"] == 5e-4 and conf["optimizer"].defaults["momentum"] == 0.9
    assert conf["lr_scheduler"]["scheduler"].step_size == 7


TINY = dict(recipe="fast", epochs=1, batch_size=64, train_subset=256, width=4, limit_val_batches=2,
            eval_limit=48, pgd_steps=2, progress=False, test_subset=200)


def test_train_all_defenses_then_resume(real_data_dir, tmp_path):
    cfg = RobustTrainConfig(defenses=("standard", "fgsm", "pgd"), data_dir=str(real_data_dir),
                            log_dir=str(tmp_path), **TINY)
    results = train_defenses(cfg)
    assert [r["defense"] for r in results] == ["standard", "fgsm", "pgd"]
    assert set(results[0]["attack_eval"]["robust_accuracy"]) == {"fgsm", "pgd"}
    assert set(results[1]["attack_eval"]["robust_accuracy"]) == {"fgsm"}
    for r in results:
        saved = json.loads((tmp_path / "fast_seed42" / r["defense"] / "results.json").read_text())
        assert saved["attack_eval"]["images"] == 48 and "exact" in saved["attack_eval"]["which"]
        ev = saved["attack_eval"]
        assert all(v <= ev["clean_accuracy"] for v in ev["robust_accuracy"].values())
    last = tmp_path / "fast_seed42" / "standard" / "checkpoints" / "last.ckpt"
    first_steps = torch.load(last, weights_only=True)["global_step"]
    assert first_steps == 4  # 256 images / batch 64
    with pytest.raises(VaeadvError, match="--resume"):
        train_defenses(cfg)
    ckpt = torch.load(last, weights_only=True)
    ckpt["callbacks"]["TrainingClock"]["seconds"] = 1e6  # as if the first session had trained for 1e6 s
    torch.save(ckpt, last)
    cfg2 = RobustTrainConfig(defenses=("standard",), data_dir=str(real_data_dir), log_dir=str(tmp_path),
                             resume=True, **{**TINY, "epochs": 2})
    (again,) = train_defenses(cfg2)
    # the training time reported is the run's: the first session's (from its checkpoint) plus this one's
    assert 1e6 <= again["train_seconds"] <= 1e6 + again["train_seconds_this_session"] + 0.1  # both rounded
    assert again["seconds_per_epoch"] == pytest.approx(again["train_seconds"] / 2, abs=0.1)
    after = torch.load(last, weights_only=True)
    assert after["global_step"] == 2 * first_steps  # restored epoch 1's steps, then trained one more epoch
    assert again["epochs"] == 2


def test_train_shards_are_disjoint_and_cover_the_subset(real_data_dir):
    from vaeadv.robust.datamodule import CifarDataModule

    def images(shard):
        dm = CifarDataModule(str(real_data_dir), train_subset=100, val_from="train", download=False,
                             train_shard=shard)
        dm.setup()
        return {tuple(x.flatten()[:64].tolist()) for x in dm.x_train}

    a, b, whole = images((0, 2)), images((1, 2)), images(None)
    assert len(a) == len(b) == 50 and not a & b and a | b == whole
    with pytest.raises(ValueError, match="train_shard"):
        CifarDataModule(train_shard=(2, 2))


def test_cutout_reaches_the_training_batches_only(real_data_dir):
    """--cutout blanks a square in training batches, with or without crop + flip; validation and test batches
    are the stored images."""
    from vaeadv.robust.datamodule import CifarDataModule

    for augment in (False, True):
        dm = CifarDataModule(str(real_data_dir), batch_size=50, augment=augment, val_from="train", download=False,
                             train_subset=100, test_subset=50, cutout=16)
        dm.setup()
        images, _ = next(iter(dm.train_dataloader()))
        square = (images == 0).all(1, keepdim=True)  # pixels black in all three channels
        assert (square.flatten(1).sum(1) >= 8 * 8).all()  # at least a clipped quarter of each 16×16 square
        if not augment:  # no shift: outside its square each image is one of the stored ones, pixel for pixel
            same = (images[:, None] == dm.x_train[None]) | square[:, None]  # [50, 100, C, H, W]
            assert same.flatten(2).all(2).any(1).all()
        val, _ = next(iter(dm.val_dataloader()))
        test, _ = next(iter(dm.test_dataloader()))
        assert torch.equal(val, dm.x_val[:50]) and torch.equal(test, dm.x_test[:50])


def test_ema_run_checkpoints_the_average_of_its_steps_and_resumes_only_with_it(real_data_dir, tmp_path,
                                                                              monkeypatch):
    """--ema: the checkpoint's weights are the moving average of the weights after each step, recomputed here
    by hand (the first step's weights, then avg ← d·avg + (1 − d)·w); the raw weights are kept beside them for
    resuming, and a resume without the same averaging is refused."""
    after_step = []
    monkeypatch.setattr(RobustClassifier, "on_train_batch_end",
                        lambda self, *args: after_step.append(self.model.fc.weight.detach().clone()))
    cfg = RobustTrainConfig(defenses=("standard",), data_dir=str(real_data_dir), log_dir=str(tmp_path),
                            ema_decay=0.5, attack=False, **TINY)
    (r,) = train_defenses(cfg)
    assert len(after_step) == 4 and "_ema0.5_" in r["run_dir"]
    by_hand = after_step[0]
    for w in after_step[1:]:
        by_hand = 0.5 * by_hand + 0.5 * w
    ckpt = torch.load(Path(r["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert torch.allclose(ckpt["state_dict"]["model.fc.weight"], by_hand, atol=1e-6)
    assert torch.equal(ckpt["current_model_state"]["model.fc.weight"], after_step[-1])
    assert not torch.allclose(by_hand, after_step[-1])
    assert ckpt["hyper_parameters"]["ema_decay"] == 0.5
    with pytest.raises(VaeadvError, match="ema_decay 0.5 → 0.0"):
        train_defenses(replace(cfg, ema_decay=0.0, resume=True, run_name=Path(r["run_dir"]).parent.name))


def test_fused_fgsm_objective_has_the_same_value_and_gradient(batch):
    import copy

    from vaeadv.robust.objectives import fgsm_objective, fgsm_objective_fused

    torch.manual_seed(1)
    plain = RobustClassifier("fgsm", width=8).model
    fused = copy.deepcopy(plain)
    x, y = batch
    loss, logits = fgsm_objective(plain, x, y, 0.03, 0.3)
    loss.backward()
    params = list(fused.parameters())
    loss_f, logits_f, grads, adv_term = fgsm_objective_fused(fused, x, y, 0.03, 0.3, params)
    adv_term.backward()
    assert torch.allclose(loss, loss_f) and torch.allclose(logits, logits_f)
    for p_plain, p_fused, g in zip(plain.parameters(), params, grads, strict=True):
        assert torch.allclose(p_plain.grad, p_fused.grad + g, atol=1e-6, rtol=1e-4)


def test_fused_and_plain_fgsm_training_steps_land_on_the_same_weights(monkeypatch):
    import lightning.pytorch as pl

    torch.manual_seed(0)
    x, y = torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    weights = {}
    for fuse in (True, False):
        monkeypatch.setattr(RobustClassifier, "_can_fuse_backward", lambda self, fuse=fuse: fuse)
        torch.manual_seed(0)
        module = RobustClassifier("fgsm", "fast", width=8, eps=0.03)
        pl.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                   enable_model_summary=False).fit(module, loader)
        weights[fuse] = module.model.fc.weight.detach().clone()
    assert torch.allclose(weights[True], weights[False], atol=1e-5)
    assert not torch.allclose(weights[True], RobustClassifier("fgsm", width=8).model.fc.weight)


def test_every_defense_trains_under_ddp_with_two_cpu_processes(real_data_dir, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, VAEADV_DATA=str(real_data_dir))
    done = subprocess.run([sys.executable, "-m", "vaeadv", "robust", "train", "--train-strats", "standard", "fgsm",
                           "pgd", "--recipe", "fast", "--epochs", "1", "--train-subset", "256", "--width", "4",
                           "--limit-val-batches", "2", "--test-subset", "200", "--eval-limit", "32", "--pgd-steps",
                           "2", "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--log-dir",
                           str(tmp_path), "--no-progress"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for defense in ("standard", "fgsm", "pgd"):
        r = json.loads((tmp_path / "fast_seed42" / defense / "results.json").read_text())
        ckpt = torch.load(tmp_path / "fast_seed42" / defense / "checkpoints" / "last.ckpt", weights_only=True)
        assert ckpt["global_step"] == 1  # 256 images / (the recipe's batch 128 × 2 processes)
        assert r["attack_eval"]["images"] == 32 and 0 <= r["clean_eval"]["exact"]["accuracy"] <= 1


def test_pretrain_recipe_on_a_tiny_subset_scores_in_fp32_with_intervals(real_data_dir, tmp_path):
    cfg = RobustTrainConfig(defenses=("standard",), recipe="pretrain", epochs=1, batch_size=64, train_subset=256,
                            width=8, limit_val_batches=2, progress=False, test_subset=300, augment=True,
                            attack=False, data_dir=str(real_data_dir), log_dir=str(tmp_path))
    (r,) = train_defenses(cfg)
    ev = r["clean_eval"]
    assert r["train_images"] == 256 and ev["holdout"]["n"] == 2000  # the recipe's hold-out of the training set
    assert ev["test"]["n"] == 300 and ev["exact"]["n"] == 300  # the first 300 test images are exact ones
    for key in ("exact", "exact_flip_tta", "test", "test_flip_tta", "holdout"):
        assert ev[key]["ci95_low"] <= ev[key]["accuracy"] <= ev[key]["ci95_high"]
    ckpt = torch.load(tmp_path / cfg.default_run_name() / "standard" / "checkpoints" / "last.ckpt",
                      weights_only=True)
    assert ckpt["hyper_parameters"]["recipe"] == "pretrain" and ckpt["global_step"] == 4
    # 4 steps, 1 of warm-up: the triangle has come down to 0 after the last step
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == 0.0


def test_finetune_recipe_starts_an_fgsm_defense_from_pretrained_weights(real_data_dir, tmp_path):
    from vaeadv.robust.models import resnet18

    start = resnet18(10, width=8)
    torch.save(start.state_dict(), tmp_path / "start.pt")
    cfg = RobustTrainConfig(defenses=("fgsm",), recipe="finetune", epochs=1, train_subset=128, width=8,
                            pretrained=str(tmp_path / "start.pt"), limit_val_batches=1, progress=False,
                            test_subset=100, eval_limit=16, data_dir=str(real_data_dir), log_dir=str(tmp_path))
    (r,) = train_defenses(cfg)
    assert r["trained"] and r["clean_eval"]["holdout"]["n"] == 2000  # the pretrain recipe's hold-out
    recorded = json.loads((tmp_path / cfg.default_run_name() / "fgsm" / "results.json").read_text())["config"]
    assert recorded["pretrained_sha256"] == hashlib.sha256((tmp_path / "start.pt").read_bytes()).hexdigest()
    ckpt = torch.load(tmp_path / cfg.default_run_name() / "fgsm" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 2  # 128 images in the template's batches of 64
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == 5e-4  # the template's rate, no decay yet
    moved = max((ckpt["state_dict"][f"model.{k}"].float() - v.float()).abs().max().item()
                for k, v in start.named_parameters())  # weights, not BatchNorm running statistics
    assert 0 < moved < 0.05  # started from the file's weights and took two small steps


def test_fused_fgsm_objective_tolerates_parameters_the_loss_does_not_use(batch):
    """A frozen-in-practice head (a parameter outside the forward pass) gets a zero gradient, not an error."""
    from vaeadv.robust.objectives import fgsm_objective_fused

    model = RobustClassifier("fgsm", width=8).model
    unused = torch.nn.Parameter(torch.ones(3))
    x, y = batch
    *_, grads, _ = fgsm_objective_fused(model, x, y, 0.03, 0.3, [*model.parameters(), unused])
    assert torch.equal(grads[-1], torch.zeros(3)) and grads[0].abs().sum() > 0


def test_data_moves_once_to_an_accelerator_and_stays_put_on_the_cpu(real_data_dir):
    """On a device other than the CPU ("meta" stands in for a GPU) every loader draws from one resident copy of
    the uint8 images; on the CPU the loaders use the tensors in memory as they are."""
    from types import SimpleNamespace

    from vaeadv.robust.datamodule import CifarDataModule

    dm = CifarDataModule(str(real_data_dir), batch_size=32, augment=True, val_from="train", download=False,
                         train_subset=64, test_subset=32)
    dm.setup()

    def attach(device):
        dm.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)), global_rank=0,
                                     world_size=1, current_epoch=0)

    attach("cpu")
    assert dm.train_dataloader().tensors[0] is dm.x_train
    attach("meta")
    first, again = dm.train_dataloader(), dm.train_dataloader()
    assert first.tensors[0].device.type == "meta" and first.tensors[0].dtype == torch.uint8
    assert again.tensors[0] is first.tensors[0]  # moved once, not per epoch
    images, labels = next(iter(first))
    assert images.device.type == labels.device.type == "meta" and images.shape == (32, 3, 32, 32)
    assert dm.test_dataloader().tensors[1].device.type == "meta"


def test_compile_covers_training_steps_only_and_its_time_is_stated(real_data_dir, tmp_path, monkeypatch):
    """--compile: training steps run through torch.compile's function (a recording stand-in here: the real compile
    takes half a minute on a CPU), evaluation through the plain network; checkpoints keep plain names; the first
    step's excess over a typical one is reported."""
    compiled_calls = []

    def fake_compile(fn, mode=None):
        def run(x):
            compiled_calls.append(torch.is_grad_enabled())
            return fn(x)
        return run

    monkeypatch.setattr(torch, "compile", fake_compile)
    cfg = RobustTrainConfig(defenses=("standard",), data_dir=str(real_data_dir), log_dir=str(tmp_path), compile=True,
                            attack=False, **TINY)
    (result,) = train_defenses(cfg)
    steps = 256 // 64
    assert len(compiled_calls) == steps and all(compiled_calls)  # one call per training step, none in evaluation
    assert result["first_step_excess_seconds"] is not None and result["first_step_excess_seconds"] >= 0
    state = torch.load(result["best_checkpoint"], weights_only=True)["state_dict"]
    assert all(k.startswith("model.") and "_orig_mod" not in k for k in state)
    module = RobustClassifier(width=4).compile_network()
    module.eval()
    module(torch.rand(2, 3, 32, 32))
    assert len(compiled_calls) == steps  # eval mode: the plain network


def test_train_pretrained_fine_tunes_the_standard_defense_instead_of_only_loading(real_data_dir, tmp_path):
    """The control of a fine-tuned defense: the same fine-tune with the standard objective. Without the switch the
    template's rule holds (a pretrained standard model is loaded and scored, not trained)."""
    from vaeadv.robust.models import resnet18

    torch.save(resnet18(10, width=8).state_dict(), tmp_path / "start.pt")
    common = dict(defenses=("standard",), recipe="finetune", epochs=1, train_subset=64, width=8,
                  pretrained=str(tmp_path / "start.pt"), limit_val_batches=1, progress=False, test_subset=50,
                  attack=False, data_dir=str(real_data_dir), log_dir=str(tmp_path))
    (loaded,) = train_defenses(RobustTrainConfig(**common))
    (tuned,) = train_defenses(RobustTrainConfig(**common, train_pretrained=True))
    assert not loaded["trained"] and loaded["epochs"] == 0
    assert tuned["trained"] and tuned["epochs"] == 1 and "_tuned" in tuned["run_dir"]
    ckpt = torch.load(Path(tuned["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 1  # 64 images, one template batch
