"""How big each report is. Every reduction from the assignment's settings is a field here, so the report
can print exactly what it cut (``Scale.reductions``) and results of one scale never pass for another."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# The report's experiments, in running order (run.py maps each name to its function), by half of the assignment.
PART1_EXPERIMENTS = ("vae_main", "vae_manifold", "beta_sweep", "q12_prior_vs_importance", "compression")
PART2_EXPERIMENTS = ("adversarial_matrix", "attack_losses", "robustness_curves", "transfer")
EXPERIMENT_NAMES = PART1_EXPERIMENTS + PART2_EXPERIMENTS


@dataclass(frozen=True)
class CifarModel:
    """One model of the run matrix; ``None`` takes the scale's recipe / epochs."""

    defense: str
    augment: bool
    recipe: str | None = None
    epochs: int | None = None
    pretrained: str | None = None  # start from these weights (a shipped name); "standard" then just loads them
    load_only: bool = False  # the shipped ``pretrained`` weights of this defense, evaluated as they are
    tuned: bool = False  # standard defense: fine-tune ``pretrained`` with the standard objective (a control)

    def trains(self) -> bool:
        """Whether this model is trained (shipped weights loaded as they are are not)."""
        return not (self.load_only or self.defense == "standard" and self.pretrained and not self.tuned)


@dataclass(frozen=True)
class Scale:
    name: str
    summary: str
    # Part 1: the z=20 VAE (curves, samples, test bpd) and the z=2 VAE (manifold).
    vae_epochs: int
    vae_train_subset: int | None
    vae_sample_every: int
    vae_eval_images: int
    iw_samples: int
    # Q1.2: naive prior-sampling Monte Carlo against the importance-weighted estimate, per z_dim.
    q12_z_dims: tuple[int, ...]
    q12_epochs: int
    q12_train_subset: int | None
    prior_samples: int
    q12_images: int
    # β-VAE sweep (z=20).
    betas: tuple[float, ...]
    beta_epochs: int
    beta_train_subset: int | None
    beta_eval_images: int
    beta_iw_samples: int
    # Part 2: CIFAR-10 ResNet18.
    recipe: str
    cifar_epochs: int
    cifar_train_subset: int | None
    width: int
    pgd_steps: int
    attack_images: int
    test_subset: int | None
    transfer_epochs: int
    eps_curve_255: tuple[float, ...] = (0, 1, 2, 4, 8, 16)
    curve_images: int = 500
    limit_val_batches: int | float | None = None
    # the run matrix; empty = the template's: every defense with and without augmentation at recipe/cifar_epochs
    cifar_models: tuple[CifarModel, ...] = ()
    transfer_recipe: str | None = None  # None: the scale's recipe
    transfer_augment: bool = False
    cifar_seed: int = 42
    strong_steps: int = 0  # > 0: APGD-CE + APGD-T columns (that many iterations) at 8/255 and the template's ε
    compress_images: int = 0  # test images the z=20 VAE compresses with bits-back ANS; 0: no such section
    # the attack-loss table: the masking diagnosis of the shipped standard model on the attacked images, beside
    # these committed diagnoses of its ablations, (label, folder of a diagnosis.json under a --reuse folder)
    diagnose: bool = False
    ablation_diagnoses: tuple[tuple[str, str], ...] = ()
    # two folders of ablation_diagnoses, without and with label smoothing, whose models differ in nothing else: the
    # controlled comparison the answers read
    smoothing_pair: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def experiments(self) -> tuple[str, ...]:
        """The experiments of this scale (the compression section only where ``compress_images`` is set, the
        attack-loss table where ``diagnose`` is)."""
        optional = {"compression": bool(self.compress_images), "attack_losses": self.diagnose}
        return tuple(n for n in EXPERIMENT_NAMES if optional.get(n, True))

    def matrix_models(self) -> list[CifarModel]:
        if self.cifar_models:
            return list(self.cifar_models)
        return [CifarModel(d, augment) for augment in (False, True) for d in ("standard", "fgsm", "pgd")]

    def curve_models(self) -> list[CifarModel]:
        """The first model of each defense in the matrix: those the accuracy-vs-ε curves compare."""
        first: dict[str, CifarModel] = {}
        for m in self.matrix_models():
            first.setdefault(m.defense, m)
        return list(first.values())

    def recipes(self, experiment: str) -> list[str]:
        """The training recipes of ``experiment``'s models that train (shipped weights loaded as they are train
        nothing; Part 1 has none)."""
        models = {"adversarial_matrix": self.matrix_models, "robustness_curves": self.curve_models}.get(experiment)
        trains = [m for m in (models() if models else []) if m.trains()]
        used = {m.recipe or self.recipe for m in trains}
        if experiment == "transfer":
            used.add(self.transfer_recipe or self.recipe)
        return sorted(used)

    def shipped_standard(self) -> str | None:
        """The shipped standard model the run matrix loads as it is (its first), if any: the one diagnosed."""
        return next((m.pretrained for m in self.matrix_models() if m.defense == "standard" and not m.trains()),
                    None)

    def shipped_weights(self, experiment: str) -> list[str]:
        """The weights (shipped names) that ``experiment``'s models start from or load."""
        if experiment == "attack_losses":
            return [name] if (name := self.shipped_standard()) else []
        models = {"adversarial_matrix": self.matrix_models, "robustness_curves": self.curve_models}.get(experiment)
        return sorted({m.pretrained for m in models() if m.pretrained}) if models else []

    def as_config(self) -> dict:
        """The whole scale but its notes (prose, which changes no number); fields added later are left out while
        they hold their (behaviour-preserving) defaults, so results stored before they existed stay valid."""
        config = asdict(self)
        del config["notes"]
        for key, default in _LATER_FIELDS.items():
            if config[key] == default:
                del config[key]
        return config

    def key(self, experiment: str) -> dict:
        """The part of the scale that ``experiment``'s stored result is keyed by (``scale_key``)."""
        return scale_key(self.as_config(), experiment)

    def reductions(self) -> list[str]:
        """What this scale changes from the assignment's settings, in words."""
        full = SCALES["full"]
        out = []
        for key, label in _DESCRIBED.items():
            mine, theirs = getattr(self, key), getattr(full, key)
            if mine != theirs:
                source = "full scale" if key in _NOT_IN_ASSIGNMENT else "assignment / full"
                out.append(f"{label}: {_show(mine)} ({source}: {_show(theirs)})")
        return out + list(self.notes)


# The settings each experiment reads. A stored result is keyed by those only: a new model in Part 2's run matrix
# leaves Part 1's results (hours of IWAE and compression) standing, a longer beta sweep leaves Part 2's, and the
# other Part 1 experiments' (the z=2 manifold's 80-epoch VAE among them). Part 2's experiments share one run
# matrix, so they share one set. The prose (summary, notes) keys nothing. Tests check every field is in one set
# and, read off the code, that each experiment reads nothing outside its own.
_VAE_MAIN = frozenset({"vae_epochs", "vae_train_subset", "vae_sample_every"})  # the z=20 VAE, trained once
PART1_READS = {
    "vae_main": _VAE_MAIN | {"vae_eval_images", "iw_samples"},
    "vae_manifold": _VAE_MAIN | {"vae_eval_images", "iw_samples"},
    "q12_prior_vs_importance": frozenset({"q12_z_dims", "q12_epochs", "q12_train_subset", "vae_sample_every",
                                          "q12_images", "iw_samples", "prior_samples"}),
    "beta_sweep": frozenset({"betas", "beta_epochs", "beta_train_subset", "vae_sample_every", "beta_eval_images",
                             "beta_iw_samples"}),
    "compression": _VAE_MAIN | {"compress_images", "iw_samples"},
}
PART1_FIELDS = frozenset().union(*PART1_READS.values())
PART2_FIELDS = frozenset({"recipe", "cifar_epochs", "cifar_train_subset", "width", "pgd_steps", "attack_images",
                          "test_subset", "transfer_epochs", "eps_curve_255", "curve_images", "limit_val_batches",
                          "cifar_models", "transfer_recipe", "transfer_augment", "cifar_seed", "strong_steps",
                          "diagnose", "ablation_diagnoses", "smoothing_pair"})
PROSE_FIELDS = frozenset({"summary", "notes"})


def scale_key(scale_config: dict, experiment: str) -> dict:
    """The settings of a scale's config (``Scale.as_config``, as stored then or made now) that ``experiment``
    reads: its name and its fields (``PART1_READS``; Part 2's shared set). Stored keys of the whole scale compare
    equal through this view."""
    fields = PART1_READS[experiment] if experiment in PART1_EXPERIMENTS else PART2_FIELDS
    return {k: v for k, v in scale_config.items() if k == "name" or k in fields}


_LATER_FIELDS = {"cifar_models": (), "transfer_recipe": None, "transfer_augment": False, "cifar_seed": 42,
                 "compress_images": 0, "strong_steps": 0, "diagnose": False, "ablation_diagnoses": (),
                 "smoothing_pair": ()}


def _show(value) -> str:
    if value is None:
        return "all"
    if isinstance(value, tuple):
        return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return str(value)


_DESCRIBED = {
    "vae_epochs": "VAE epochs (z=20 and z=2)", "vae_train_subset": "VAE training images",
    "vae_eval_images": "test images for ELBO/IWAE", "iw_samples": "importance samples K",
    "q12_z_dims": "latent sizes for Q1.2", "q12_epochs": "epochs of the extra Q1.2 models",
    "q12_train_subset": "training images of the extra Q1.2 models", "q12_images": "test images for Q1.2",
    "prior_samples": "prior samples L (Q1.2)", "betas": "β values", "beta_epochs": "epochs per β",
    "beta_train_subset": "training images per β", "recipe": "CIFAR training recipe",
    "cifar_epochs": "CIFAR epochs", "cifar_train_subset": "CIFAR training images", "width": "ResNet18 base width",
    "pgd_steps": "PGD steps (training and evaluation)", "attack_images": "test images attacked",
    "test_subset": "test images for clean accuracy", "transfer_epochs": "epochs of the transfer models A/B",
}

# Settings the assignment does not fix (it asks Q1.2 as a question, with no experiment): the full scale's values are
# ours, and the reductions list says so rather than crediting them to the assignment.
_NOT_IN_ASSIGNMENT = frozenset({"q12_z_dims", "q12_epochs", "q12_train_subset", "q12_images", "prior_samples"})

SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke", summary="minutes on a laptop CPU: checks that every experiment runs and renders; "
        "the numbers mean nothing",
        vae_epochs=2, vae_train_subset=512, vae_sample_every=1, vae_eval_images=64, iw_samples=8,
        q12_z_dims=(2, 20), q12_epochs=1, q12_train_subset=512, prior_samples=32, q12_images=32,
        betas=(0.5, 1.0, 2.0, 4.0, 8.0), beta_epochs=1, beta_train_subset=512, beta_eval_images=64,
        beta_iw_samples=4,
        recipe="fast", cifar_epochs=1, cifar_train_subset=256, width=8, pgd_steps=2, attack_images=32,
        test_subset=200, transfer_epochs=1, eps_curve_255=(0, 4, 16), curve_images=32, limit_val_batches=2,
        compress_images=64, strong_steps=5),
    "cpu": Scale(
        name="cpu", summary="about an hour on 2 CPU cores, in resumable pieces",
        vae_epochs=8, vae_train_subset=None, vae_sample_every=1, vae_eval_images=2000, iw_samples=100,
        q12_z_dims=(2, 8, 20), q12_epochs=4, q12_train_subset=20000, prior_samples=1000, q12_images=200,
        betas=(0.5, 1.0, 2.0, 4.0, 8.0), beta_epochs=4, beta_train_subset=20000, beta_eval_images=1000,
        beta_iw_samples=20,
        recipe="fast", cifar_epochs=5, cifar_train_subset=10000, width=16, pgd_steps=5, attack_images=1000,
        test_subset=None, transfer_epochs=5, curve_images=500,
        notes=("CIFAR models use the 'fast' recipe (one-cycle SGD, batch 128, validation held out of the "
               "training set) instead of the template's 30-epoch step schedule",)),
    "real": Scale(
        name="real", summary="Part 2 at its real size, trained on 2 CPU cores: the full-width course ResNet18 "
        "(vaeadv-resnet18) and defenses fine-tuned from it, with their controls; Part 1 with the assignment's 80-epoch "
        "VAEs. About 10 hours of training in resumable pieces",
        vae_epochs=80, vae_train_subset=None, vae_sample_every=5, vae_eval_images=10000, iw_samples=100,
        q12_z_dims=(2, 8, 20), q12_epochs=4, q12_train_subset=20000, prior_samples=1000, q12_images=200,
        betas=(0.5, 1.0, 2.0, 4.0, 8.0), beta_epochs=20, beta_train_subset=None, beta_eval_images=1000,
        beta_iw_samples=20,
        recipe="pretrain", cifar_epochs=20, cifar_train_subset=None, width=64, pgd_steps=10, attack_images=1000,
        test_subset=None, transfer_epochs=20, transfer_recipe="pretrain", transfer_augment=True, curve_images=500,
        eps_curve_255=(0, 1, 2, 4, 8, 16, 32, 64), cifar_seed=0, compress_images=10000, strong_steps=100, diagnose=True,
        ablation_diagnoses=(("label smoothing 0.1, 80 epochs (the file shipped until 2026-12-07)",
                             "diagnosis/vaeadv_resnet18_ls"),
                            ("label smoothing 0, 8 epochs (the controlled pair)", "diagnosis/pair_ls0"),
                            ("label smoothing 0.1, 8 epochs (the controlled pair)", "diagnosis/pair_ls0.1")),
        smoothing_pair=("diagnosis/pair_ls0", "diagnosis/pair_ls0.1"),
        cifar_models=(  # trained in this order, the defense and its controls first
            CifarModel("standard", True, pretrained="vaeadv-resnet18"),
            CifarModel("fgsm", True, recipe="finetune", epochs=5, pretrained="vaeadv-resnet18"),
            # what fine-tuning alone does: the FGSM defense's run with the standard objective
            CifarModel("standard", True, recipe="finetune", epochs=5, pretrained="vaeadv-resnet18", tuned=True),
            CifarModel("fgsm", False, recipe="finetune", epochs=5, pretrained="vaeadv-resnet18"),
            CifarModel("pgd", True, recipe="finetune", epochs=2, pretrained="vaeadv-resnet18"),
            # and the PGD defense's: its 2-epoch run with the standard objective
            CifarModel("standard", True, recipe="finetune", epochs=2, pretrained="vaeadv-resnet18", tuned=True),
            # the augmentation pair: the same recipe and epochs, crop + flip or none (no Cutout in either)
            CifarModel("standard", False),
            CifarModel("standard", True),
            CifarModel("fgsm-rs", True, pretrained="vaeadv-fast-at", load_only=True),
        ),
        notes=("CIFAR models: vaeadv-resnet18 (the 'pretrain' recipe: bf16, SGD Nesterov with linear warm-up/decay, "
               "plain cross-entropy, 45 epochs, crop+flip and Cutout 16 px; docs/weights.md); the FGSM and PGD "
               "defenses fine-tuned from it with the template's optimiser under bf16 ('finetune' recipe: 5 and 2 "
               "epochs, crop+flip; the FGSM one also without augmentation); the fine-tuning controls, each "
               "defense's run (5 and 2 epochs) with the standard objective; the augmentation pair, standard models "
               "trained from scratch with the 'pretrain' recipe at 20 epochs with and without crop+flip (no "
               "Cutout); transfer models A/B with the 'pretrain' recipe at 20 epochs on disjoint halves, crop+flip "
               "without Cutout (a reduction: the pretrained model has 45 epochs and Cutout)",
               "the PGD defense is not trained without augmentation at this scale: what augmentation does to it is not "
               "tested here",
               "seed 0 for CIFAR (the pretrained model's hold-out of 2,000 training images)",
               "the attack-loss table sets vaeadv-resnet18 beside the label-smoothed file it replaced (0.1, 80 "
               "epochs; its diagnosis is committed in docs/results/diagnosis, its weights left the package) and "
               "beside the controlled pair: two standard models trained alike for 8 epochs ('pretrain' recipe, "
               "crop+flip and Cutout 16, seed 0), with label smoothing 0 and 0.1 (diagnoses committed in "
               "docs/results/diagnosis/pair_ls0 and pair_ls0.1)",
               "the fast AT row is the shipped vaeadv-fast-at model (fast adversarial training from scratch at "
               "ε = 8/255 in pixel units, 'fast-at' recipe; its manifest states how it was trained), evaluated "
               "as it is",
               "both defenses are scored at their kept epoch, the first; later weights of the same runs, diagnosed "
               "after the test images had scored the kept ones and so choosing nothing here, are in "
               "docs/results/README.md (\"The defenses' later weights\")")),
    "full": Scale(
        name="full", summary="the assignment's settings (a GPU is recommended)",
        vae_epochs=80, vae_train_subset=None, vae_sample_every=10, vae_eval_images=10000, iw_samples=100,
        q12_z_dims=(2, 8, 20), q12_epochs=80, q12_train_subset=None, prior_samples=1000, q12_images=1000,
        betas=(0.5, 1.0, 2.0, 4.0, 8.0), beta_epochs=80, beta_train_subset=None, beta_eval_images=10000,
        beta_iw_samples=100,
        recipe="template", cifar_epochs=30, cifar_train_subset=None, width=64, pgd_steps=10, attack_images=1000,
        test_subset=None, transfer_epochs=30, curve_images=1000, compress_images=10000),
}
