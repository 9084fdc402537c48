"""The settings of a ``robust train`` run, as one dataclass: the command line fills it by field name
(``vaeadv.cli.types.config_from_args``), and ``None`` means "the recipe's" (``resolved``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from vaeadv.robust.recipes import get_recipe

Defense = Literal["standard", "fgsm", "pgd", "fgsm-rs"]
DEFENSES: tuple[str, ...] = get_args(Defense)
LEGACY_CONFIG_KEYS = {"strategies": "defenses"}  # names in configs written before the rename
# fields added after runs were first recorded, with the value that reproduces what those runs did
LATER_FIELDS = {"pgd_random_start": False, "overfit_guard": None}


def upgrade_config(config: dict) -> dict:
    """A recorded ``robust train`` config in today's terms: older runs called the defenses strategies, and did
    what the later fields' defaults do. Any other config (a VAE's) is returned as it is."""
    if not ({"strategies", "defenses"} & set(config)):
        return dict(config)
    return {**LATER_FIELDS, **{LEGACY_CONFIG_KEYS.get(k, k): v for k, v in config.items()}}


@dataclass
class RobustTrainConfig:
    defenses: tuple[Defense, ...] = ("standard",)
    dataset: str = "cifar10"
    recipe: str = "template"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    augment: bool = False
    pretrained: str | None = None
    data_dir: str | None = None
    download: bool = True
    val_from: str | None = None
    valid_ratio: float = 0.75
    train_subset: int | None = None
    train_shard: tuple[int, int] | None = None
    test_subset: int | None = None
    eval_limit: int | None = None
    units: str = "normalized"  # of the ε/α below: the template's
    fgsm_eps: float = 0.1
    fgsm_alpha: float = 0.5
    pgd_eps: float = 0.1
    pgd_alpha: float = 0.01
    pgd_steps: int = 10
    pgd_random_start: bool = False  # the PGD defense's examples from a uniform point of the ε-ball (Madry et al.)
    overfit_guard: bool | None = None  # PGD check on held-out training images each epoch; None: on for fgsm-rs
    width: int = 64
    seed: int = 42
    log_dir: str = "robust_logs"
    run_name: str | None = None
    accelerator: str = "auto"
    devices: str | int = "auto"
    pl_strategy: str = "auto"
    precision: str | None = None  # of training; None = the recipe's (evaluation is always fp32)
    limit_train_batches: int | float | None = None
    limit_val_batches: int | float | None = None
    resume: bool = False
    progress: bool = True
    cross_over: bool = False
    attack: bool = True

    def resolved(self, key: str):
        """A setting given explicitly, else the recipe's."""
        value = getattr(self, key)
        return getattr(get_recipe(self.recipe), key) if value is None else value

    def default_run_name(self) -> str:
        aug = "_aug" if self.augment else ""
        pre = "_pretrained" if self.pretrained else ""
        part = f"_part{self.train_shard[0]}of{self.train_shard[1]}" if self.train_shard else ""
        return f"{self.recipe}{aug}{pre}{part}_seed{self.seed}"
