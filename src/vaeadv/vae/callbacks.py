"""Lightning callbacks: 8×8 sample grids, the 2-D manifold, the epoch history (EMA weights: vaeadv.averaging)."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.trainer.states import TrainerFn

from vaeadv.vae.viz import sample_grid, save_image, visualize_manifold


def _tensorboard(trainer: pl.Trainer):
    for logger in trainer.loggers:
        if hasattr(logger, "experiment") and hasattr(logger.experiment, "add_image"):
            return logger.experiment
    return None


class SampleGrids(pl.Callback):
    """64 samples as an 8×8 grid before training (epoch 0), after every ``every``-th epoch and after the last,
    ``epoch_{N}_samples.png`` + a TensorBoard image. The samples use a fixed seed, so successive
    grids show the model changing, not the noise."""

    def __init__(self, out_dir: str | Path, every: int = 5, num: int = 64, seed: int = 0) -> None:
        self.out_dir, self.every, self.num, self.seed = Path(out_dir), every, num, seed

    def _save(self, trainer: pl.Trainer, module, epoch: int) -> None:
        if not trainer.is_global_zero:
            return
        grid = sample_grid(module, self.num, self.seed)
        save_image(grid, self.out_dir / f"epoch_{epoch}_samples.png")
        tb = _tensorboard(trainer)
        if tb is not None:
            tb.add_image("samples", grid, global_step=epoch)

    def on_train_start(self, trainer, module) -> None:
        if trainer.current_epoch == 0:  # not again when resuming
            self._save(trainer, module, 0)

    def on_train_epoch_end(self, trainer, module) -> None:
        epoch = trainer.current_epoch + 1
        if epoch % self.every == 0 or epoch == trainer.max_epochs:  # a short run still shows its final model
            self._save(trainer, module, epoch)


class Manifold(pl.Callback):
    """When z_dim == 2: the 20×20 decoder-mean manifold at the end of training, ``vae_manifold.png``."""

    def __init__(self, out_dir: str | Path, grid_size: int = 20) -> None:
        self.out_dir, self.grid_size = Path(out_dir), grid_size

    def on_train_end(self, trainer, module) -> None:
        if trainer.is_global_zero and module.hparams.z_dim == 2:
            grid = visualize_manifold(module.decoder, self.grid_size)
            save_image(grid, self.out_dir / "vae_manifold.png")
            tb = _tensorboard(trainer)
            if tb is not None:
                tb.add_image("manifold", grid, global_step=trainer.current_epoch)


class EpochHistory(pl.Callback):
    """Per-epoch train/val metrics, kept in the checkpoint (callback state) so that a resumed run's
    history is complete even when the killed process never flushed its logs. Train values are this
    rank's batch means of what ``training_step`` returns; val values are Lightning's synced epoch metrics."""

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self._sums: dict[str, float] = {}
        self._count = 0

    def on_train_epoch_start(self, trainer, module) -> None:
        self._sums, self._count = {}, 0

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        n = len(batch[0])
        for key, value in outputs.items():
            if key != "loss":
                self._sums[key] = self._sums.get(key, 0.0) + float(value) * n
        self._count += n

    def on_validation_end(self, trainer, module) -> None:
        if trainer.sanity_checking or not self._count:
            return
        entry = {"epoch": trainer.current_epoch + 1}
        entry.update({f"train_{k}": v / self._count for k, v in self._sums.items()})
        entry.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")})
        self.history = [h for h in self.history if h["epoch"] != entry["epoch"]] + [entry]

    def state_dict(self) -> dict:
        return {"history": self.history}

    def on_load_checkpoint(self, trainer, module, checkpoint) -> None:
        # only a resumed fit takes the history back; trainer.test(ckpt_path="best") would roll it back to the best epoch
        if trainer.state.fn == TrainerFn.FITTING:
            self.history = list(checkpoint.get("callbacks", {}).get(self.state_key, {}).get("history", []))
