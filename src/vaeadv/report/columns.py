"""The run matrix's column names, made once from the attack registry (``vaeadv.robust.kinds.column``): the
experiments build their attacks under these names and the answers read their numbers by them. Torch-free."""

from __future__ import annotations

from vaeadv.robust.kinds import NORM, PIXEL, column
from vaeadv.robust.masking import LARGEST_EPS_255, RESTARTS

__all__ = ["NORM", "PIXEL"]  # re-exported: the answers read the budgets' labels here with the columns

FGSM_KEY = column("fgsm", NORM)
FGSM_NLL_KEY = f"{FGSM_KEY}, nll on logits"  # the template's own FGSM loss: nll_loss on the raw logits
PGD_KEY = column("pgd", NORM)
STRONG_KEY = column("strong", NORM)  # AutoAttack-lite, where the scale has it
FGSM_PIXEL_KEY = column("fgsm", PIXEL)
PGD_PIXEL_KEY = column("pgd", PIXEL)
NOISE_PIXEL_KEY = column("noise", PIXEL)
STRONG_PIXEL_KEY = column("strong", PIXEL)
# the masking checks' other columns, where the scale measures APGD: (c) PGD with Madry et al.'s step from random
# starts, (b) PGD far beyond the budget
PGD_RESTARTS_PIXEL_KEY = f"{PGD_PIXEL_KEY}, {RESTARTS} random starts"  # the same step as the plain PGD's at 8/255


def pgd_restarts_key(steps: int) -> str:
    """The column of check (c) at the template's ε, whose step (α = 2.5ε/steps) differs from the template's PGD."""
    return f"{PGD_KEY}, α=2.5ε/{steps}, {RESTARTS} random starts"
PGD_LARGE_KEY = column("pgd", f"{LARGEST_EPS_255}/255")
