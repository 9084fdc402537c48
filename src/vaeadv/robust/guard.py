"""Catastrophic-overfitting guard for fast adversarial training (Wong, Rice & Kolter 2020): FGSM-trained models
can suddenly lose all robustness to PGD within one epoch while their FGSM accuracy soars. After every epoch the
guard measures PGD accuracy on a fixed batch of held-out training images (never test images); when it drops by
more than ``drop`` (their rule: 20 points) below the last good epoch's, it restores that epoch's weights and stops
the run, and says so in the results. Its clean and PGD accuracies per epoch are the run's robustness curve, kept in
the checkpoints (a resumed run continues the curve and still restores the last good epoch)."""

from __future__ import annotations

import copy

import lightning.pytorch as pl
import torch

from vaeadv.robust.attacks import Budget
from vaeadv.robust.evaluate import AttackSpec, full_fp32, to_unit


class OverfitGuard(pl.Callback):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor, eps: Budget, *, steps: int = 10,
                 drop: float = 0.2) -> None:
        self.images, self.labels, self.eps, self.steps, self.drop = images, labels, eps, steps, drop
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

    def pgd_accuracy(self, model: torch.nn.Module) -> float:
        """Accuracy under ``attack`` in fp32, the model's mode restored afterwards."""
        device = next(model.parameters()).device
        x, y = to_unit(self.images).to(device), self.labels.to(device)
        with full_fp32(), torch.autocast(device.type, enabled=False):
            adv = self.attack(device).run(model, x, y, generator=torch.Generator().manual_seed(0))
            with torch.no_grad():
                was = model.training
                model.eval()
                correct = (model(adv).argmax(1) == y).float().mean().item()
                model.train(was)
        return correct

    def clean_accuracy(self, model: torch.nn.Module) -> float:
        """Accuracy on the same images unattacked, in fp32 and eval mode (the model's mode restored)."""
        device = next(model.parameters()).device
        with torch.no_grad(), full_fp32(), torch.autocast(device.type, enabled=False):
            was = model.training
            model.eval()
            correct = (model(to_unit(self.images).to(device)).argmax(1) == self.labels.to(device)).float().mean()
            model.train(was)
        return correct.item()

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.fired_at is not None:
            return
        self.clean_history.append(self.clean_accuracy(module))
        acc = self.pgd_accuracy(module)
        self.history.append(acc)
        if self.best is not None and acc < self.best - self.drop:
            module.load_state_dict(self._good_state)
            self.fired_at = trainer.current_epoch + 1
            trainer.should_stop = True
            return
        self.best = acc
        self._good_state = copy.deepcopy(module.state_dict())

    def state_dict(self) -> dict:
        """Saved in every checkpoint (Lightning runs checkpoint callbacks after this one at an epoch's end)."""
        return {"history": list(self.history), "clean_history": list(self.clean_history), "best": self.best,
                "fired_at": self.fired_at, "good_state": self._good_state}

    def load_state_dict(self, state: dict) -> None:
        self.history, self.clean_history = list(state["history"]), list(state["clean_history"])
        self.best, self.fired_at, self._good_state = state["best"], state["fired_at"], state["good_state"]

    def report(self) -> dict:
        return {"fired": self.fired_at is not None, "fired_after_epoch": self.fired_at,
                "pgd_accuracy_per_epoch": [round(a, 4) for a in self.history],
                "clean_accuracy_per_epoch": [round(a, 4) for a in self.clean_history], "images": len(self.images),
                "pgd_steps": self.steps, "drop_threshold": self.drop}
