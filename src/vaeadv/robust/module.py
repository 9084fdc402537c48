"""The classifier as a LightningModule; ``defense`` picks standard, FGSM-objective or PGD-batch training.

ε and α are pixel-space budgets (floats or per-channel tensors); the CLI converts the template's
normalised units. Images arrive as uint8 and become [0,1] floats on the device.
"""

from __future__ import annotations

from functools import partial

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from vaeadv.robust.attacks import pgd
from vaeadv.robust.config import DEFENSES
from vaeadv.robust.evaluate import to_unit
from vaeadv.robust.models import resnet18
from vaeadv.robust.objectives import fgsm_objective, fgsm_objective_fused, fgsm_rs_examples, n_fgsm_examples
from vaeadv.robust.recipes import RECIPES, get_recipe, warmup_linear_decay, warmup_steps

# fast adversarial training's single-step examples, by defense (Wong et al.; de Jorge et al.)
SINGLE_STEP_EXAMPLES = {"fgsm-rs": fgsm_rs_examples, "n-fgsm": n_fgsm_examples}

# oneDNN's AVX2 1x1 stride-2 backward-weights kernel mis-handles channels-last inputs with fewer than 8 input
# channels: it writes past its workspace, then hangs with 2 threads or returns wrong weight gradients
# (uxlfoundation/oneDNN#6035). ResNet18's narrowest downsampling conv has `width` input channels.
MIN_CHANNELS_LAST_WIDTH = 8


def channels_last_is_safe(width: int) -> bool:
    """Channels-last was ~25% faster per step in a CPU probe, but is only safe when every 1x1 downsampling conv
    has >= 8 inputs."""
    return width >= MIN_CHANNELS_LAST_WIDTH


def channels_last_pays(width: int, device_type: str, precision: str) -> bool:
    """Channels-last where it is safe and was measured faster: on CUDA, and on the CPU in fp32. Under bf16 autocast
    on the CPU a first probe found oneDNN slower with it (0.88 s against 0.56 s per 128-image step of the width-64
    ResNet18); a later benchmark on the same, by then slower, machine found the opposite (0.84 s against 1.00 s,
    benchmarks/results/precision.json). CPU timings here drift: re-measure before changing this rule."""
    if not channels_last_is_safe(width):
        return False
    return device_type == "cuda" or "bf16" not in str(precision)


def parameter_groups(model: torch.nn.Module, weight_decay: float, decay_norm_and_bias: bool) -> list[dict]:
    """Weight decay on convolution and linear weights only, when ``decay_norm_and_bias`` is False: decaying
    BatchNorm scales and biases only fights the normalisation (they are the 1-D parameters)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if decay_norm_and_bias or weight_decay == 0:
        return [{"params": params, "weight_decay": weight_decay}]
    return [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay},
            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]


class RobustClassifier(pl.LightningModule):
    """The ResNet18 under training. ``defense`` is standard, fgsm, pgd, fgsm-rs or n-fgsm; ``recipe`` names the
    optimisation (``vaeadv.robust.recipes``). ε and α are pixel-space budgets; inputs arrive as uint8 batches.
    ``channels_last=None`` decides at fit start from the device and precision; ``label_smoothing=None`` takes the
    recipe's. ``ema_decay`` is only recorded
    (the averaging is ``vaeadv.averaging.EMAWeights``)."""

    def __init__(self, defense: str = "standard", recipe: str = "template", *, lr: float | None = None,
                 epochs: int = 30, eps: list[float] | float = 0.025, alpha: list[float] | float = 0.0025,
                 pgd_steps: int = 10, fgsm_alpha: float = 0.5, width: int = 64, weight_decay: float | None = None,
                 channels_last: bool | None = None, pgd_random_start: bool = False, ema_decay: float = 0.0,
                 label_smoothing: float | None = None, strategy: str | None = None) -> None:
        super().__init__()
        if strategy is not None:  # the defense's name in checkpoints written before it was called a defense
            defense = strategy
        if defense not in DEFENSES or recipe not in RECIPES:
            raise ValueError(f"defense must be one of {DEFENSES}, recipe one of {tuple(RECIPES)}")
        self.save_hyperparameters(ignore=["strategy"])
        self.recipe = get_recipe(recipe)
        self.model = resnet18(10, width=width)
        self._channels_last = False
        if channels_last:
            self._use_channels_last()
        smoothing = self.recipe.label_smoothing if label_smoothing is None else label_smoothing
        self.criterion = partial(F.cross_entropy, label_smoothing=smoothing)
        self.register_buffer("eps", torch.as_tensor(eps, dtype=torch.float32), persistent=False)
        self.register_buffer("alpha", torch.as_tensor(alpha, dtype=torch.float32), persistent=False)

    def _use_channels_last(self) -> None:
        self.model.to(memory_format=torch.channels_last)
        self._channels_last = True

    def setup(self, stage: str) -> None:  # before the optimizer exists and the model moves to its device
        if stage == "fit" and self.hparams.channels_last is None and channels_last_pays(
                self.hparams.width, self.trainer.strategy.root_device.type, str(self.trainer.precision)):
            self._use_channels_last()

    def compile_network(self, mode: str | None = None) -> RobustClassifier:
        """``torch.compile`` the network's forward for training steps. Not wrapped as a module, so checkpoints keep
        their plain names; evaluation and the eval-mode attacks run the plain network (no recompiles for other
        modes and precisions). Compiling happens on the first training step (timed apart: ``FirstStepTimer``)."""
        self._compiled_forward = torch.compile(self.model.forward, mode=mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        compiled = getattr(self, "_compiled_forward", None)
        return compiled(x) if compiled is not None and self.training else self.model(x)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        x, y = batch
        return to_unit(x), y

    def training_step(self, batch, batch_idx):
        x, y = batch
        defense = self.hparams.defense
        if defense == "fgsm" and self._can_fuse_backward():
            params = [p for p in self.parameters() if p.requires_grad]
            loss, logits, grads, _ = fgsm_objective_fused(self, x, y, self.eps, self.hparams.fgsm_alpha, params,
                                                          criterion=self.criterion)
            self._pending_grads = list(zip(params, grads, strict=True))
        elif defense == "fgsm":
            loss, logits = fgsm_objective(self, x, y, self.eps, self.hparams.fgsm_alpha, criterion=self.criterion)
        elif defense in SINGLE_STEP_EXAMPLES:  # trained on the adversarial examples alone, as their authors
            logits = self(SINGLE_STEP_EXAMPLES[defense](self, x, y, self.eps, criterion=self.criterion))
            loss = self.criterion(logits, y)
        elif defense == "pgd":  # crafted in eval mode
            adv = pgd(self, x, y, self.eps, self.alpha, self.hparams.pgd_steps,
                      random_start=self.hparams.pgd_random_start)
            both = self(torch.cat([x, adv]))
            loss = self.criterion(both, torch.cat([y, y]))
            logits = both[: len(x)]
        else:
            logits = self(x)
            loss = self.criterion(logits, y)
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
        recipe, hp = self.recipe, self.hparams
        lr = hp.lr or recipe.lr
        weight_decay = recipe.weight_decay if hp.weight_decay is None else hp.weight_decay
        opt = torch.optim.SGD(parameter_groups(self, weight_decay, recipe.decay_norm_and_bias), lr=lr,
                              momentum=recipe.momentum, nesterov=recipe.nesterov)
        if recipe.schedule == "step":  # the template's StepLR(7, 0.1), stepped per epoch
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.1)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}
        total = max(int(self.trainer.estimated_stepping_batches), 1)
        if recipe.schedule == "onecycle":  # torch's one-cycle: cosine warm-up and annealing
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 10),
                                                        pct_start=recipe.warmup)
        else:  # "linear": triangular warm-up and decay to 0
            warm = warmup_steps(recipe, total)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_linear_decay(step, total, warm))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
