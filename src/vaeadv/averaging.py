"""Weight averaging for any Lightning run (the VAE's and the classifiers'): an EMA of the weights that
validation, checkpoints and the final model use."""

from __future__ import annotations

from lightning.pytorch.callbacks import WeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from torch.optim.swa_utils import get_ema_multi_avg_fn


class EMAWeights(WeightAveraging):
    """An exponential moving average of the weights, updated after every step; validation, checkpoints'
    ``state_dict`` and the final model use the average (callbacks that draw during training, such as the VAE's
    sample grids, see the raw weights).

    Lightning's ``WeightAveraging`` with three choices of ours: the EMA update is torch's foreach version
    (Lightning's ``EMAWeightAveraging`` takes the per-parameter one, a few kernel launches per tensor, which made an
    H100 run launch-bound); outside fitting a checkpoint is loaded as written (Lightning's callback would restore the
    *raw* weights it keeps beside the average, ``current_model_state``, so ``trainer.test(ckpt_path="best")`` would
    test weights the best-val choice never saw); and the checkpoint written when fitting ends keeps the raw weights
    for resuming, as every earlier one does. Shared by both halves (``vae train --ema``, ``robust train --ema``);
    each module records its decay in its hyper-parameters, so a run is resumed with the averaging it began with.
    """

    def __init__(self, decay: float = 0.999) -> None:
        super().__init__(multi_avg_fn=get_ema_multi_avg_fn(decay))
        self._raw_at_end: dict | None = None

    def on_fit_start(self, trainer, pl_module) -> None:
        self._raw_at_end = None

    def on_train_end(self, trainer, pl_module) -> None:
        # Lightning copies the average into the model here, and the end-of-fit last.ckpt is written after this
        # hook: keep the raw weights, so that extending a finished run resumes from them and not from the average
        self._raw_at_end = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}
        super().on_train_end(trainer, pl_module)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        super().on_save_checkpoint(trainer, pl_module, checkpoint)
        if self._raw_at_end is not None and "current_model_state" in checkpoint:
            checkpoint["current_model_state"] = self._raw_at_end

    def on_load_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
