"""Catastrophic-overfitting guard for fast adversarial training (Wong, Rice & Kolter 2020): FGSM-trained models
can suddenly lose all robustness to PGD within one epoch while their FGSM accuracy soars. After every epoch the
guard measures PGD accuracy on a fixed batch of held-out training images (never test images); when it drops by
more than ``drop`` (their rule: 20 points) below the last good epoch's, it restores that epoch's weights and stops
the run, and says so in the results. Its clean and PGD accuracies per epoch are the run's robustness curve, kept in
the checkpoints (a resumed run continues the curve and still restores the last good epoch; the last good weights
ride along, so a guarded run's checkpoints hold the weights twice)."""

from __future__ import annotations

import copy

import lightning.pytorch as pl
import torch

from vaeadv.robust.attacks import Budget, eval_mode
from vaeadv.robust.evaluate import AttackSpec, full_fp32, to_unit

GUARD_PGD_STEPS = 10  # Wong et al.'s check: PGD-10 with α = ε/4 from a random start


class OverfitGuard(pl.Callback):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *, steps: int = GUARD_PGD_STEPS,
                 drop: float = 0.2) -> None:
        self.images, self.labels, self.eps, self.steps, self.drop = images, labels, eps, steps, drop
        self.epochs: list[int] = []  # the epoch (from 1) of each measurement
        self.history: list[float] = []
        self.clean_history: list[float] = []
        self.best: float | None = None
        self._good_state: dict | None = None
        self.fired_at: int | None = None

    def attack(self, device: torch.device | str = "cpu") -> AttackSpec:
        """The guard's attack, PGD-``steps`` with α = ε/4 from a random start (Wong et al.'s check); a run's final
        hold-out score uses it too."""
        eps = torch.as_tensor(self.eps, dtype=torch.float32, device=device)
        return AttackSpec("pgd", eps, eps / 4, self.steps, random_start=True, name=f"pgd-{self.steps}, guard's")

    def measure(self, model: torch.nn.Module) -> tuple[float, float]:
        """(clean, PGD) accuracy on the guard's images, in fp32 and eval mode (every submodule's mode restored)."""
        device = next(model.parameters()).device
        x, y = to_unit(self.images).to(device), self.labels.to(device)
        with eval_mode(model), full_fp32(), torch.autocast(device.type, enabled=False):
            adv = self.attack(device).run(model, x, y, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                clean = (model(x).argmax(1) == y).float().mean().item()
                attacked = (model(adv).argmax(1) == y).float().mean().item()
        return clean, attacked

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.fired_at is not None:  # resumed after it fired: the restored weights are the run's, train no more
            trainer.should_stop = True

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.fired_at is not None:
            return
        clean, acc = self.measure(module)
        self.epochs.append(trainer.current_epoch + 1)
        self.clean_history.append(clean)
        self.history.append(acc)
        if self.best is not None and acc < self.best - self.drop:
            module.load_state_dict(self._good_state)
            self.fired_at = trainer.current_epoch + 1
            trainer.should_stop = True
            return
        self.best = acc
        self._good_state = copy.deepcopy(module.state_dict())

    def state_dict(self) -> dict:
        """Saved in every checkpoint. At an epoch's end this runs first: Lightning calls checkpoint callbacks
        after the others, and with validation once per epoch they save at the training epoch's end."""
        return {"epochs": list(self.epochs), "history": list(self.history), "clean_history": list(self.clean_history),
                "best": self.best, "fired_at": self.fired_at, "good_state": self._good_state}

    def load_state_dict(self, state: dict) -> None:
        self.epochs, self.history = list(state["epochs"]), list(state["history"])
        self.clean_history, self.best = list(state["clean_history"]), state["best"]
        self.fired_at, self._good_state = state["fired_at"], state["good_state"]

    def report(self) -> dict:
        return {"fired": self.fired_at is not None, "fired_after_epoch": self.fired_at, "epochs": list(self.epochs),
                "pgd_accuracy_per_epoch": [round(a, 4) for a in self.history],
                "clean_accuracy_per_epoch": [round(a, 4) for a in self.clean_history], "images": len(self.images),
                "pgd_steps": self.steps, "drop_threshold": self.drop}
