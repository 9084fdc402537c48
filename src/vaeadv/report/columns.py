"""The run matrix's column names, made once from the attack registry (``vaeadv.robust.kinds.column``): the
experiments build their attacks under these names and the answers read their numbers by them. Torch-free."""

from __future__ import annotations

from vaeadv.robust.kinds import NORM, PIXEL, column

__all__ = ["NORM", "PIXEL"]  # re-exported: the answers read the budgets' labels here with the columns

FGSM_KEY = column("fgsm", NORM)
FGSM_NLL_KEY = f"{FGSM_KEY}, nll on logits"  # the template's own FGSM loss: nll_loss on the raw logits
PGD_KEY = column("pgd", NORM)
STRONG_KEY = column("strong", NORM)  # AutoAttack-lite, where the scale has it
FGSM_PIXEL_KEY = column("fgsm", PIXEL)
PGD_PIXEL_KEY = column("pgd", PIXEL)
NOISE_PIXEL_KEY = column("noise", PIXEL)
STRONG_PIXEL_KEY = column("strong", PIXEL)
