"""The settings of a ``robust train`` run, as one dataclass: the command line fills it by field name
(``vaeadv.cli.types.config_from_args``), and ``None`` means "the recipe's" (``resolved``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar, Literal, get_args

from vaeadv.registry import weights_sha256
from vaeadv.robust.recipes import RECIPES, get_recipe
from vaeadv.settings import RunConfig

Defense = Literal["standard", "fgsm", "pgd", "fgsm-rs", "n-fgsm"]
DEFENSES: tuple[str, ...] = get_args(Defense)
LEGACY_CONFIG_KEYS = {"strategies": "defenses"}  # names in configs written before the rename
# fields added after runs were first recorded, with the value that reproduces what those runs did
LATER_FIELDS = {"pgd_random_start": False, "overfit_guard": None, "cutout": 0, "ema_decay": 0.0, "compile": False,
                "label_smoothing": None, "train_pretrained": False, "holdout_only": False}
# the recipes' label smoothing before it was a setting of its own: the pretrain recipe trained with 0.1 until its
# default became the course's plain cross-entropy (a controlled run showed the smoothing masking FGSM's gradient)
LABEL_SMOOTHING_BEFORE_SETTING = {"pretrain": 0.1}
# the files shipped under these names until configs recorded the hash of their --pretrained weights: every run
# recorded before then started from them (each name had shipped a single file until then)
SHA256_BEFORE_PINNING = {
    "vaeadv-resnet18": "7f8096c22bc750977b07570b6d45d592adff59a70a301e76dfd0aa0edc3a2998",
    "vaeadv-fast-at": "e946923b791c9cc5cf95a51d101604b462f0f6cd81c719dc4d9ac10815aab6e3",
}


def upgrade_config(config: dict) -> dict:
    """A recorded ``robust train`` config in today's terms (``RobustTrainConfig.upgrade``); any other config (a
    VAE's) is returned as it is."""
    return RobustTrainConfig.upgrade(config)


def recipe_label_smoothing(recipe: str | None) -> float:
    """The label smoothing a recipe trains with today (0 for a name no recipe has)."""
    return RECIPES[recipe].label_smoothing if recipe in RECIPES else 0.0


def label_smoothing_changes() -> dict[str, float]:
    """The recipes whose label smoothing today differs from what they used before it was a setting."""
    return {name: recipe_label_smoothing(name) for name, before in LABEL_SMOOTHING_BEFORE_SETTING.items()
            if recipe_label_smoothing(name) != before}


def upgrade_hparams(saved: dict) -> dict:
    """A classifier checkpoint's hyper-parameters in today's terms: one written before label smoothing was recorded
    trained with its recipe's smoothing of then (0.1 for pretrain), which a resume must compare."""
    if "recipe" in saved and "label_smoothing" not in saved:
        return {**saved, "label_smoothing": LABEL_SMOOTHING_BEFORE_SETTING.get(saved["recipe"], 0.0)}
    return dict(saved)


@dataclass
class RobustTrainConfig(RunConfig):
    LATER_FIELDS: ClassVar[dict] = LATER_FIELDS
    RECORDED_KEYS: ClassVar[frozenset[str]] = frozenset({"strategies", "defenses"})

    defenses: tuple[Defense, ...] = ("standard",)
    dataset: str = "cifar10"
    recipe: str = "template"
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    label_smoothing: float | None = None  # of the training loss; None: the recipe's
    augment: bool = False
    cutout: int = 0  # side of the Cutout square blanked in each training image; 0: none
    ema_decay: float = 0.0  # > 0: validate, checkpoint and keep an exponential moving average of the weights
    compile: bool = False  # torch.compile the network for training steps (its compile time is reported apart)
    pretrained: str | None = None
    pretrained_sha256: str | None = None  # of the --pretrained file: checked when given, else recorded (pinned)
    train_pretrained: bool = False  # the standard defense trains from --pretrained (a fine-tuning control), not loads
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
    holdout_only: bool = False  # score the finished run on its held-out training images only (a pilot run)

    @classmethod
    def upgrade(cls, recorded: dict) -> dict:
        """Older runs called the defenses strategies, did what the later fields' defaults do, started from the
        one file each shipped name had then, and smoothed labels as their recipe did then."""
        if not cls.recognises(recorded):
            return dict(recorded)
        upgraded = {**LATER_FIELDS, **{LEGACY_CONFIG_KEYS.get(k, k): v for k, v in recorded.items()}}
        upgraded.setdefault("pretrained_sha256", SHA256_BEFORE_PINNING.get(upgraded.get("pretrained")))
        if "label_smoothing" not in recorded:
            upgraded["label_smoothing"] = LABEL_SMOOTHING_BEFORE_SETTING.get(upgraded.get("recipe"))
        return upgraded

    def resolved(self, key: str):
        """A setting given explicitly, else the recipe's."""
        value = getattr(self, key)
        return getattr(get_recipe(self.recipe), key) if value is None else value

    def resolved_settings(self) -> dict:
        """Every field, those left to the recipe (None) filled with the recipe's value: what the run trains with,
        whether a value was given or taken from the recipe (compared when a run is resumed)."""
        recipe = set(asdict(get_recipe(self.recipe)))
        return {k: self.resolved(k) if k in recipe else v for k, v in asdict(self).items()}

    def pinned(self, downloaded: str | Path | None = None) -> RobustTrainConfig:
        """This config with the SHA-256 of its ``--pretrained`` weights filled in: a run is identified by the file
        it started from, not by that file's name, so replacing shipped weights makes what was trained or measured
        from the old file stale instead of silently reused. A shipped name's hash is its manifest's (no file is
        read); a URL's is known once it is ``downloaded``."""
        if not self.pretrained or self.pretrained_sha256:
            return self
        sha = weights_sha256(self.pretrained)
        if sha is None and downloaded is not None:
            sha = weights_sha256(downloaded)
        return replace(self, pretrained_sha256=sha)

    def default_run_name(self) -> str:
        aug = ("_aug" if self.augment else "") + (f"_cutout{self.cutout}" if self.cutout else "")
        aug += f"_ema{self.ema_decay:g}" if self.ema_decay else ""
        pre = ("_pretrained" if self.pretrained else "") + ("_tuned" if self.train_pretrained else "")
        part = f"_part{self.train_shard[0]}of{self.train_shard[1]}" if self.train_shard else ""
        return f"{self.recipe}{aug}{pre}{part}_seed{self.seed}"
