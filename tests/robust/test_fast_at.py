"""Fast adversarial training (fgsm-rs) and its catastrophic-overfitting guard, and the PGD defense's random
start, against values computed independently."""

import lightning.pytorch as pl
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vaeadv.errors import VaeadvError
from vaeadv.robust import module as robust_module
from vaeadv.robust.guard import OverfitGuard
from vaeadv.robust.module import RobustClassifier
from vaeadv.robust.objectives import fgsm_rs_examples
from vaeadv.robust.train import RobustTrainConfig, train_defenses

EPS = 0.03


class TwoWay(nn.Module):
    """Linear logits where only classes 0 and 1 compete: the cross-entropy's input-gradient sign is
    sign(w_other − w_y) everywhere, whatever the start point."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(2, 3 * 8 * 8, generator=torch.Generator().manual_seed(0)))

    def forward(self, x):
        two = x.flatten(1) @ self.w.T
        return torch.cat([two, torch.full((len(x), 8), -100.0)], dim=1)


def test_fgsm_rs_is_a_random_start_plus_a_125_eps_step_clipped_to_the_ball():
    model = TwoWay()
    x = 0.2 + 0.6 * torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))  # away from 0 and 1
    y = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(7)
    adv = fgsm_rs_examples(model, x, y, EPS)
    torch.manual_seed(7)
    delta = (torch.rand_like(x) * 2 - 1) * EPS  # the same random start, drawn again
    w_y, w_o = model.w[y].view(-1, 3, 8, 8), model.w[1 - y].view(-1, 3, 8, 8)
    s = (w_o - w_y).sign().detach()
    expected = x + (delta + 1.25 * EPS * s).clamp(-EPS, EPS)
    assert torch.allclose(adv, expected, atol=1e-6)
    assert not torch.allclose(adv, x + EPS * s)  # the random start matters: not plain FGSM
    assert all(p.grad is None for p in model.parameters())


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(2, 2)

    def training_step(self, batch, batch_idx):
        (x,) = batch
        return F.cross_entropy(self.layer(x), torch.zeros(len(x), dtype=torch.long))

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(16, 2)), batch_size=8)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.5)


def test_the_guard_restores_the_last_good_epoch_and_stops_on_a_drop_of_more_than_20_points(monkeypatch):
    accuracies = iter([0.40, 0.45, 0.44, 0.20, 0.5])  # epoch 4 collapses: 0.20 < 0.44 − 0.20
    clean = iter([0.7, 0.8, 0.9, 0.95, 0.99])
    guard = OverfitGuard(torch.zeros(4, 3, 2, 2), torch.zeros(4, dtype=torch.long), EPS)
    monkeypatch.setattr(guard, "measure", lambda module: (next(clean), next(accuracies)))
    saved = {}

    class Snapshot(pl.Callback):
        def on_train_epoch_end(self, trainer, module):  # runs before the guard: the weights each epoch ends with
            saved[trainer.current_epoch] = {k: v.clone() for k, v in module.state_dict().items()}

    module = _Tiny()
    trainer = pl.Trainer(max_epochs=10, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Snapshot(), guard])
    trainer.fit(module)
    assert trainer.current_epoch == 4 and guard.fired_at == 4  # stopped after the collapsed epoch
    assert all(torch.equal(module.state_dict()[k], saved[2][k]) for k in saved[2])  # epoch 3's weights are back
    assert not torch.equal(module.state_dict()["layer.weight"], saved[3]["layer.weight"])
    assert guard.report() == {"fired": True, "fired_after_epoch": 4, "epochs": [1, 2, 3, 4],
                              "pgd_accuracy_per_epoch": [0.4, 0.45, 0.44, 0.2],
                              "clean_accuracy_per_epoch": [0.7, 0.8, 0.9, 0.95], "images": 4, "pgd_steps": 10,
                              "drop_threshold": 0.2}


class _Killed(Exception):
    pass


def _guarded_run(tmp_path, guard, epochs, kill_before_epoch=None):
    """``_Tiny`` under the guard with the checkpointing ``train_one`` uses, killed (an exception, nothing saved on
    the way out) when epoch ``kill_before_epoch`` (from 1) would start."""
    from vaeadv.runs import RunCheckpoint

    class Kill(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            if trainer.current_epoch + 1 == kill_before_epoch:
                raise _Killed

    checkpoint = RunCheckpoint(dirpath=tmp_path, monitor="train_loss", mode="max", save_top_k=1, save_last=True)
    return pl.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[guard, checkpoint, Kill()])


def _scripted_guard(monkeypatch, accuracies):
    guard = OverfitGuard(torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long), EPS)
    monkeypatch.setattr(guard, "measure", lambda module: (0.9, next(accuracies)))
    return guard


class _Logged(_Tiny):
    def training_step(self, batch, batch_idx):
        loss = super().training_step(batch, batch_idx)
        self.log("train_loss", -float(self.current_epoch), on_epoch=True)  # worsens each epoch: no new best
        return loss


def test_a_resumed_run_continues_the_guards_curve_and_can_still_restore_the_epoch_before_the_kill(monkeypatch,
                                                                                                 tmp_path):
    first, snapshots = _Logged(), {}

    class Snapshot(pl.Callback):
        def on_train_epoch_end(self, trainer, module):
            snapshots[trainer.current_epoch + 1] = {k: v.clone() for k, v in module.state_dict().items()}

    trainer = _guarded_run(tmp_path, _scripted_guard(monkeypatch, iter([0.5, 0.6])), 6, kill_before_epoch=3)
    trainer.callbacks.insert(0, Snapshot())
    with pytest.raises(_Killed):
        trainer.fit(first)  # killed once epoch 2 had ended (and had not improved the monitored value)
    guard, resumed = _scripted_guard(monkeypatch, iter([0.35, 0.9])), _Logged()  # epoch 3: 25 points below 0.6
    resuming = _guarded_run(tmp_path, guard, 6)
    resuming.fit(resumed, ckpt_path=tmp_path / "last.ckpt", weights_only=True)  # as train_one loads
    assert guard.report()["epochs"] == [1, 2, 3] and guard.report()["pgd_accuracy_per_epoch"] == [0.5, 0.6, 0.35]
    assert guard.fired_at == 3 and resuming.current_epoch == 3
    assert all(torch.equal(resumed.state_dict()[k], snapshots[2][k]) for k in snapshots[2])  # epoch 2's weights

    again = _scripted_guard(monkeypatch, iter([]))  # resumed after it fired: nothing more is trained or measured
    after = _Logged()
    _guarded_run(tmp_path, again, 6).fit(after, ckpt_path=tmp_path / "last.ckpt", weights_only=True)
    assert again.fired_at == 3 and again.report()["epochs"] == [1, 2, 3]
    assert all(torch.equal(after.state_dict()[k], snapshots[2][k]) for k in snapshots[2])


def test_a_drop_of_exactly_20_points_does_not_fire(monkeypatch):
    guard = OverfitGuard(torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long), EPS)
    accuracies = iter([0.5, 0.3 + 1e-9, 0.3])
    monkeypatch.setattr(guard, "measure", lambda module: (0.9, next(accuracies)))
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[guard])
    trainer.fit(_Tiny())
    assert guard.fired_at is None and trainer.current_epoch == 3


@pytest.mark.slow  # an end-to-end training run (tens of seconds)
def test_fgsm_rs_trains_with_the_guard_on_held_out_training_images(real_data_dir, tmp_path):
    cfg = RobustTrainConfig(defenses=("fgsm-rs",), recipe="fast", epochs=2, train_subset=256, width=8,
                            limit_val_batches=1, test_subset=100, eval_limit=16, pgd_steps=2, units="pixel",
                            fgsm_eps=8 / 255, data_dir=str(real_data_dir), log_dir=str(tmp_path), progress=False)
    (r,) = train_defenses(cfg)
    guard = r["overfit_guard"]
    assert len(guard["pgd_accuracy_per_epoch"]) == 2 and guard["images"] == 512
    assert len(guard["clean_accuracy_per_epoch"]) == 2
    assert (tmp_path / cfg.default_run_name() / "fgsm-rs" / "robustness_curve.png").is_file()
    holdout, attacked = r["clean_eval"]["holdout"], r["holdout_attack"]
    assert attacked["attack"] == "pgd-10, guard's"  # the guard's own PGD, not the run's --pgd-steps
    assert attacked["n"] == holdout["n"] == 5000 and attacked["correct"] <= holdout["correct"]  # fast: 5,000 held out
    assert set(r["attack_eval"]["robust_accuracy"]) == {"fgsm", "pgd"}
    template = RobustTrainConfig(defenses=("fgsm-rs",), epochs=1, train_subset=64, width=8, test_subset=100,
                                 data_dir=str(real_data_dir), log_dir=str(tmp_path / "t"), progress=False)
    with pytest.raises(VaeadvError, match="validates on the test set"):
        train_defenses(template)  # the template validates on test images: no hold-out to guard with



@pytest.mark.slow  # an end-to-end training run (tens of seconds)
def test_a_pilot_run_is_scored_on_its_hold_out_and_never_on_a_test_image(real_data_dir, tmp_path, monkeypatch):
    from vaeadv.robust import train as robust_train

    looked_at = []
    monkeypatch.setattr(robust_train, "clean_scores", lambda *a, **k: looked_at.append("test") or {})
    cfg = RobustTrainConfig(defenses=("n-fgsm",), recipe="fast", epochs=1, train_subset=128, width=4,
                            limit_val_batches=1, pgd_steps=2, units="pixel", fgsm_eps=8 / 255, overfit_guard=True,
                            holdout_only=True, data_dir=str(real_data_dir), log_dir=str(tmp_path), progress=False)
    (r,) = train_defenses(cfg)
    assert looked_at == [] and "attack_eval" not in r and r["clean_test_accuracy"] is None and r["test_images"] == 0
    assert set(r["clean_eval"]) == {"holdout"} and r["holdout_attack"]["n"] == 5000
    template = RobustTrainConfig(defenses=("fgsm",), epochs=1, holdout_only=True, data_dir=str(real_data_dir),
                                 log_dir=str(tmp_path / "t"), progress=False)
    with pytest.raises(VaeadvError, match="--holdout-only scores a run on the training images it held out"):
        train_defenses(template)


def test_the_pgd_defense_can_start_at_random(monkeypatch):
    seen = {}

    def spy(model, x, y, eps, alpha, steps, **kwargs):
        seen.update(kwargs)
        return x

    monkeypatch.setattr(robust_module, "pgd", spy)
    module = RobustClassifier("pgd", width=2, pgd_random_start=True)
    module.training_step((torch.rand(2, 3, 32, 32), torch.tensor([0, 1])), 0)
    assert seen == {"random_start": True}


def test_fgsm_rs_never_shows_the_model_pixels_outside_the_unit_range():
    """The random start is clamped to [0,1] before the gradient is taken, so the model only ever sees images
    (black and white pixels are where an unclamped start would leave the range)."""
    seen = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3 * 4 * 4, 10)

        def forward(self, x):
            seen.append((x.min().item(), x.max().item()))
            return self.linear(x.flatten(1))

    x = torch.zeros(8, 3, 4, 4)
    x[:4] = 1.0
    adv = fgsm_rs_examples(Spy(), x, torch.arange(8), 0.1)
    assert seen and all(0.0 <= lo and hi <= 1.0 for lo, hi in seen)
    assert seen[0] == (0.0, 1.0)  # the start touches both ends: the clamp did the work
    assert bool((adv >= 0).all() and (adv <= 1).all() and ((adv - x).abs() <= 0.1 + 1e-6).all())


def test_fgsm_rs_leaves_pixels_without_gradient_at_their_random_start():
    """sign(0) = 0: a pixel the loss does not depend on keeps its random start (inside the ball), it is not
    pushed to the ball's edge."""
    class FirstChannel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(16, 10)

        def forward(self, x):
            return self.linear(x[:, 0].flatten(1))

    x = torch.full((4, 3, 4, 4), 0.5)
    adv = fgsm_rs_examples(FirstChannel(), x, torch.arange(4), 0.1)
    ignored = (adv[:, 1:] - x[:, 1:]).abs()
    assert bool((ignored < 0.1 - 1e-4).all())  # uniform starts, none on the edge
    assert bool(((adv[:, 0] - x[:, 0]).abs() > 0.1 - 1e-6).sum() > 0)  # the used channel moves to the edge


def test_n_fgsm_is_2eps_noise_plus_an_eps_step_never_projected_back_to_the_ball():
    """de Jorge et al.'s example on a model whose gradient sign is known in closed form: x + δ + ε·sign(w_o − w_y)
    with δ uniform in [−2ε, 2ε], only clipped to [0,1] — so pixels leave the ε-ball (up to 3ε)."""
    from vaeadv.robust.objectives import n_fgsm_examples

    model = TwoWay()
    x = 0.2 + 0.6 * torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))  # 3ε away from 0 and 1
    y = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(2))
    torch.manual_seed(7)
    adv = n_fgsm_examples(model, x, y, EPS)
    torch.manual_seed(7)
    delta = (torch.rand_like(x) * 2 - 1) * 2 * EPS  # the same noise, drawn again
    w_y, w_o = model.w[y].view(-1, 3, 8, 8), model.w[1 - y].view(-1, 3, 8, 8)
    expected = x + delta + EPS * (w_o - w_y).sign().detach()
    assert torch.allclose(adv, expected, atol=1e-6)
    outside = (adv - x).abs() > EPS + 1e-6
    assert outside.float().mean() > 0.3 and float((adv - x).abs().max()) <= 3 * EPS + 1e-6  # not projected
    assert all(p.grad is None for p in model.parameters())


def test_n_fgsm_clips_the_noisy_start_and_the_example_to_the_unit_range_only():
    """At black and white pixels both clamps act: the noisy start is clamped to [0,1] before the step (as de Jorge
    et al.'s code does), then the example is; never to the ε-ball. Pinned to the closed form with both clamps,
    which differs from the unclamped start's wherever the noise leaves [0,1] by more than the step."""
    from vaeadv.robust.objectives import n_fgsm_examples

    model = TwoWay()
    eps = 0.1
    x = torch.cat([torch.zeros(4, 3, 8, 8), torch.ones(4, 3, 8, 8)])  # at the edges of [0,1]
    y = torch.tensor([0, 1] * 4)
    torch.manual_seed(3)
    adv = n_fgsm_examples(model, x, y, eps)
    torch.manual_seed(3)
    delta = (torch.rand_like(x) * 2 - 1) * 2 * eps  # the same noise, drawn again
    step = eps * (model.w[1 - y] - model.w[y]).sign().view(-1, 3, 8, 8).detach()
    expected = ((x + delta).clamp(0, 1) + step).clamp(0, 1)
    unclamped_start = (x + delta + step).clamp(0, 1)
    assert torch.allclose(adv, expected, atol=1e-6)
    assert float((expected - unclamped_start).abs().max()) > 0.05  # the first clamp matters here
    assert float((adv - x).abs().max()) > eps  # clipped to [0,1], not to the ε-ball


@pytest.mark.parametrize("defense", ["fgsm-rs", "n-fgsm"])
def test_the_single_step_defenses_train_on_the_adversarial_example_alone(monkeypatch, defense):
    """Wong et al.'s and de Jorge et al.'s loss: the cross-entropy of the example only, with no clean term (the
    template's FGSM defense mixes both). The example is scripted, so the loss is known without the attack."""
    module = RobustClassifier(defense, "fast-at", width=2, eps=0.03)
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    adv = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    monkeypatch.setitem(robust_module.SINGLE_STEP_EXAMPLES, defense, lambda model, images, labels, eps, **kw: adv)
    module.eval()  # fixed BatchNorm statistics, so the hand-computed loss sees the same network
    loss = module.training_step((x, y), 0)
    with torch.no_grad():
        on_adv = F.cross_entropy(module.model(adv), y)
        on_clean = F.cross_entropy(module.model(x), y)
    assert torch.allclose(loss, on_adv, atol=1e-6)
    assert abs(float(on_adv - on_clean)) > 1e-4  # the two terms differ, so a mixture would show


def test_n_fgsm_is_a_defense_of_its_own_with_both_attacks_after_training():
    from vaeadv.robust.config import DEFENSES, RobustTrainConfig
    from vaeadv.robust.module import RobustClassifier
    from vaeadv.robust.train import attacks_for

    assert "n-fgsm" in DEFENSES
    assert [a.kind for a in attacks_for(RobustTrainConfig(), "n-fgsm")] == ["fgsm", "pgd"]
    model = RobustClassifier("n-fgsm", "fast-at", width=4, eps=0.03)
    model.train()
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    assert torch.isfinite(model.training_step((x, y), 0))


def test_the_robustness_curve_plots_the_guards_percentages_by_epoch_and_marks_where_it_fired():
    from vaeadv.robust.viz import guard_curve_figure

    report = {"fired": True, "fired_after_epoch": 5, "epochs": [3, 4, 5], "pgd_accuracy_per_epoch": [0.3, 0.4, 0.1],
              "clean_accuracy_per_epoch": [0.5, 0.6, 0.8], "images": 512, "pgd_steps": 7, "drop_threshold": 0.2}
    fig = guard_curve_figure(report)
    clean, pgd, fired = fig.axes[0].get_lines()
    assert list(clean.get_xdata()) == [3, 4, 5] and list(clean.get_ydata()) == pytest.approx([50, 60, 80])
    assert list(pgd.get_ydata()) == pytest.approx([30, 40, 10]) and list(fired.get_xdata()) == [5, 5]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["clean", "PGD-7", "guard fired"]


def test_the_guards_attack_is_pgd_with_a_quarter_eps_step_from_a_random_start():
    guard = OverfitGuard(torch.zeros(2, 3, 2, 2), torch.zeros(2, dtype=torch.long), 0.04, steps=7)
    spec = guard.attack()
    assert (spec.kind, spec.steps, spec.random_start, spec.loss, spec.restarts) == ("pgd", 7, True, "ce", 1)
    assert float(spec.eps) == pytest.approx(0.04) and float(spec.alpha) == pytest.approx(0.01)
