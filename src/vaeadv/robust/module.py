"""The classifier as a LightningModule; ``strategy`` picks standard, FGSM-objective or PGD-batch training.

ε and α are pixel-space budgets (floats or per-channel tensors); the CLI converts the template's
normalised units. Images arrive as uint8 and become [0,1] floats on the device.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from vaeadv.robust.attacks import pgd
from vaeadv.robust.evaluate import to_unit
from vaeadv.robust.models import resnet18
from vaeadv.robust.objectives import fgsm_objective, fgsm_objective_fused

STRATEGIES = ("standard", "fgsm", "pgd")
RECIPES = ("template", "fast")


# oneDNN's AVX2 1x1 stride-2 backward-weights kernel mis-handles channels-last inputs with fewer than 8 input
# channels: it writes past its workspace, then hangs with 2 threads or returns wrong weight gradients
# (uxlfoundation/oneDNN#6035). ResNet18's narrowest downsampling conv has `width` input channels.
MIN_CHANNELS_LAST_WIDTH = 8


def channels_last_is_safe(width: int) -> bool:
    """Channels-last was ~25% faster per step in a CPU probe, but is only safe when every 1x1 downsampling conv
    has >= 8 inputs."""
    return width >= MIN_CHANNELS_LAST_WIDTH


class RobustClassifier(pl.LightningModule):
    def __init__(self, strategy: str = "standard", recipe: str = "template", *, lr: float | None = None,
                 epochs: int = 30, eps: list[float] | float = 0.025, alpha: list[float] | float = 0.0025,
                 pgd_steps: int = 10, fgsm_alpha: float = 0.5, width: int = 64, weight_decay: float = 5e-4,
                 channels_last: bool | None = None) -> None:
        super().__init__()
        if strategy not in STRATEGIES or recipe not in RECIPES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, recipe one of {RECIPES}")
        if channels_last is None:
            channels_last = channels_last_is_safe(width)
        self.save_hyperparameters()
        self.model = resnet18(10, width=width)
        if channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.register_buffer("eps", torch.as_tensor(eps, dtype=torch.float32), persistent=False)
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float32), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hparams.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.model(x)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        return to_unit(x), y

    def training_step(self, batch, batch_idx):
        x, y = batch
        strategy = self.hparams.strategy
        if strategy == "fgsm" and self._can_fuse_backward():
            params = [p for p in self.parameters() if p.requires_grad]
            loss, logits, grads, _ = fgsm_objective_fused(self, x, y, self.eps, self.hparams.fgsm_alpha, params)
            self._pending_grads = list(zip(params, grads, strict=True))
        elif strategy == "fgsm":
            loss, logits = fgsm_objective(self, x, y, self.eps, self.hparams.fgsm_alpha)
        elif strategy == "pgd":
            adv = pgd(self, x, y, self.eps, self.alpha, self.hparams.pgd_steps)  # crafted in eval mode
            both = self(torch.cat([x, adv]))
            loss = F.cross_entropy(both, torch.cat([y, y]))
            logits = both[: len(x)]
        else:
            logits = self(x)
            loss = F.cross_entropy(logits, y)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train_acc", (logits.argmax(1) == y).float().mean(), on_step=False, on_epoch=True, prog_bar=True)
        return loss

    def _can_fuse_backward(self) -> bool:
        """The fused FGSM objective adds part of the gradient by hand after Lightning's backward. That is only
        right when nothing else touches gradients between the two: one process (no DDP all-reduce), no
        gradient accumulation (loss scaled by 1/k) and full precision (no loss scaler)."""
        trainer = self._trainer
        return (trainer is not None and trainer.world_size == 1 and trainer.accumulate_grad_batches == 1
                and str(trainer.precision) in ("32-true", "32"))

    def backward(self, loss: torch.Tensor, *args, **kwargs) -> None:
        super().backward(loss, *args, **kwargs)
        pending, self._pending_grads = getattr(self, "_pending_grads", None), None
        for param, grad in pending or ():
            param.grad = grad if param.grad is None else param.grad.add_(grad)

    def _evaluate(self, batch, stage: str) -> None:
        x, y = batch
        logits = self(x)
        self.log(f"{stage}_loss", F.cross_entropy(logits, y), on_epoch=True, sync_dist=True)
        self.log(f"{stage}_acc", (logits.argmax(1) == y).float().mean(), on_epoch=True, prog_bar=True,
                 sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test")

    def configure_optimizers(self):
        hp = self.hparams
        if hp.recipe == "template":  # SGD 5e-4, momentum 0.9, StepLR(7, 0.1) per epoch
            opt = torch.optim.SGD(self.parameters(), lr=hp.lr or 5e-4, momentum=0.9)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        # "fast": one-cycle SGD with Nesterov momentum and weight decay, stepped per batch
        opt = torch.optim.SGD(self.parameters(), lr=hp.lr or 0.1, momentum=0.9, nesterov=True,
                              weight_decay=hp.weight_decay)
        total = int(self.trainer.estimated_stepping_batches)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=hp.lr or 0.1, total_steps=max(total, 10),
                                                    pct_start=0.25)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
