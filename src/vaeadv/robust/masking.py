"""Is a robustness number real? The standard checks for gradient masking (Carlini et al. 2019, "On Evaluating
Adversarial Robustness"; Athalye et al. 2018), applied to one model's accuracies at one ε, with a verdict that
names the check that failed. Pure and torch-free: ``diagnose`` (and the report) measure, this reads.

The checks, each on accuracies in [0, 1] (lower = stronger attack):
  (a) iterative ≥ single-step: PGD leaves no more than FGSM does;
  (b) unbounded ε reaches 0: at the largest ε of the curve almost nothing survives;
  (c) restarts add little: PGD from random starts (several, α = 2.5ε/10) leaves about what the plain PGD leaves;
  (d) a stronger loss or optimiser adds little: the margin loss and APGD-CE+T leave at most a few points less
      than the best PGD on the cross-entropy.
Where only (c) fails, the plain PGD underestimates the attack (the template's α = ε/10 reaches the ball's edge only
at its last step): a weakness of that attack, worded apart from gradient masking, which is a property of the model.
Where APGD alone goes further and (c) was not measured, the two readings are not told apart, and the verdict says
so; the margin loss far below the cross-entropy at the same PGD is masking whatever the step.
"""

from __future__ import annotations

from dataclasses import dataclass

from vaeadv.robust.kinds import NORM, PIXEL
from vaeadv.stats import difference_interval, wilson_interval

GAP = 0.05  # a stronger attack this far below (5 points) fails (c) or (d); near it, the interval decides (_unresolved)
SLACK = 0.01  # PGD may leave this much more than FGSM before (a) fails (ties and sampling)
ZERO = 0.02  # "almost nothing survives" at the largest ε
RESTARTS = 5  # (c): PGD from random starts, the best of five (Madry et al.'s evaluation uses several)
LARGEST_EPS_255 = 64  # (b): the largest ε, in pixel units ×1/255


@dataclass(frozen=True)
class AttackAccuracies:
    """One model at one ε. ``pgd`` is the template's PGD-10 (α = ε/10, no random start); ``pgd_restarts`` PGD with
    a larger step from random starts, the best of several; ``pgd_margin`` PGD on the margin loss; ``apgd`` APGD-CE
    then APGD-T; ``largest_eps`` the accuracy under PGD at the curve's largest ε. Any may be None (not measured)."""

    fgsm: float | None
    pgd: float | None
    pgd_restarts: float | None = None
    pgd_margin: float | None = None
    apgd: float | None = None
    largest_eps: float | None = None


def _below(a: float | None, b: float | None, gap: float) -> bool | None:
    return None if a is None or b is None else a < b - gap


def checks(acc: AttackAccuracies) -> dict[str, bool | None]:
    """Each check's outcome: True passed, False failed, None not measured."""
    ce_best, stronger = best_pgd(acc), _stronger_value(acc)
    return {
        "a_iterative_beats_single_step": None if ce_best is None or acc.fgsm is None
        else ce_best <= acc.fgsm + SLACK,
        "b_large_eps_reaches_zero": None if acc.largest_eps is None else acc.largest_eps <= ZERO,
        "c_restarts_add_little": _negate(_below(acc.pgd_restarts, acc.pgd, GAP)),
        "d_stronger_loss_adds_little": _negate(_below(stronger, ce_best, GAP)),
    }


def best_pgd(acc: AttackAccuracies) -> float | None:
    """The strongest PGD on the cross-entropy that was measured (the template's, or from random starts)."""
    return min((v for v in (acc.pgd, acc.pgd_restarts) if v is not None), default=None)


def _stronger(acc: AttackAccuracies) -> tuple[float, str] | None:
    """Check (d)'s attack: the lower of APGD-CE+T and PGD on the margin that was measured, with its name (APGD on
    a tie); None where neither was."""
    return min(((v, name) for v, name in ((acc.apgd, "APGD-CE+T"), (acc.pgd_margin, "PGD on the margin"))
                if v is not None), default=None)


def _stronger_value(acc: AttackAccuracies) -> float | None:
    found = _stronger(acc)
    return None if found is None else found[0]


def _negate(value: bool | None) -> bool | None:
    return None if value is None else not value


# How the verdict names the ``pgd`` of ``AttackAccuracies`` at each budget (the matrix's and the diagnosis's alike):
# at the template's ε its own PGD, whose α = ε/10 reaches the ball's edge only at the last step; at 8/255 PGD-10
# with Madry et al.'s step, which reaches it in four, so only the random starts set it apart from check (c)'s.
PGD_NAMES = {NORM: "the template's PGD-10 (α = ε/10)", PIXEL: "PGD-10 without random starts"}


def verdict(acc: AttackAccuracies, pgd: str = "PGD-10", n: int | None = None) -> str:
    """One sentence: no sign of masking, the plain PGD (named ``pgd``: ``PGD_NAMES``) underestimating the attack,
    gradient masking with every check that failed and by how much (with Newcombe's 95% interval where the number of
    images ``n`` is given, so a gap near its threshold reads as such), or (APGD alone far below a PGD whose restarts
    were not measured) the two not told apart. The margin loss far below the cross-entropy at the same PGD is
    masking whatever the step: a small step would hold both back alike."""
    result = checks(acc)
    failed = [name for name, ok in result.items() if ok is False]
    optimiser_only = (result["d_stronger_loss_adds_little"] is False and acc.pgd is not None
                      and acc.pgd_restarts is None and not _below(acc.pgd_margin, acc.pgd, GAP))
    masking = [name for name in failed if name != "c_restarts_add_little"
               and not (optimiser_only and name == "d_stronger_loss_adds_little")]
    near = _unresolved(acc, n)
    unsure = f"; not resolved on {n or 0:,} images (the interval of each check it rests on reaches past its threshold)"
    if masking:
        failures = "; ".join(_failure(name, acc, pgd, n) for name in failed)
        if set(masking) <= set(near):  # past the threshold by the point estimates only: say neither pass nor fail
            return (f"gradient masking possible, not resolved on {n or 0:,} images (each masking check past its "
                    f"threshold has an interval reaching back below it): {failures}")
        return "gradient masking suspected: failed " + failures
    if optimiser_only:
        return (f"APGD-CE+T leaves {_gap(acc.pgd, acc.apgd, n)} less than {pgd}: gradient masking or a PGD too weak "
                "to find the worst case, not told apart (restarts, check (c), not measured)"
                + (unsure if "d_stronger_loss_adds_little" in near else ""))
    if failed:  # only (c): random starts (and a larger step) find what the plain PGD missed, and nothing goes further
        return (f"{pgd} underestimates the attack: PGD with α = 2.5ε/10 from random starts leaves "
                f"{_gap(acc.pgd, acc.pgd_restarts, n)} less, and no stronger loss or optimiser goes further"
                + (unsure if "c_restarts_add_little" in near else ""))
    close = (f", but {', '.join(_LABELS[name] for name in near)} " + ("is" if len(near) == 1 else "are")
             + f" not resolved on {n or 0:,} images (" + ("its interval reaches" if len(near) == 1 else
                                                           "their intervals reach") + " past the threshold)"
             if near else "")
    if any(ok is None for ok in result.values()):
        missing = [_LABELS[name] for name, ok in result.items() if ok is None]
        return "no sign of masking in the checks measured (not measured: " + ", ".join(missing) + ")" + close
    return "no sign of masking: all four checks pass" + close


def _unresolved(acc: AttackAccuracies, n: int | None) -> list[str]:
    """The measured checks whose 95% interval on ``n`` images reaches past their threshold, so that their pass or
    fail is not resolved by these images (none without ``n``): (a), (c) and (d) by Newcombe's interval of their
    gap, (b) by Wilson's interval of what survives the largest ε."""
    if not n:
        return []

    def straddles(more: float | None, less: float | None, threshold: float) -> bool:
        if more is None or less is None:
            return False
        _, low, high = _difference(more, less, n)
        return low <= threshold <= high

    def holds(accuracy: float | None, threshold: float) -> bool:
        if accuracy is None:
            return False
        low, high = wilson_interval(round(accuracy * n), n)
        return low <= threshold <= high

    best, stronger = best_pgd(acc), _stronger_value(acc)
    found = {"a_iterative_beats_single_step": straddles(best, acc.fgsm, SLACK),
             "b_large_eps_reaches_zero": holds(acc.largest_eps, ZERO),
             "c_restarts_add_little": straddles(acc.pgd, acc.pgd_restarts, GAP),
             "d_stronger_loss_adds_little": straddles(best, stronger, GAP)}
    return [name for name, near in found.items() if near]


def _gap(more: float, less: float, n: int | None) -> str:
    """``more − less`` in points, with Newcombe's 95% interval on ``n`` images where given."""
    text = f"{100 * (more - less):.1f} points"
    if n:
        _, low, high = _difference(more, less, n)
        text += f" [{100 * low:.1f}, {100 * high:.1f}]"
    return text


def _difference(more: float, less: float, n: int) -> tuple[float, float, float]:
    """(more − less, low, high): Newcombe's 95% interval for two accuracies on the same ``n`` images, whose counts
    are recovered by rounding (results store accuracies)."""
    return difference_interval(round(more * n), n, round(less * n), n)


def _failure(name: str, acc: AttackAccuracies, pgd: str, n: int | None) -> str:
    """What a failed check measured, in words: the check's letter, then the gap or the survivors."""
    best = best_pgd(acc)
    if name == "a_iterative_beats_single_step":
        return f"(a) the best PGD leaves {_gap(best, acc.fgsm, n)} more than FGSM"
    if name == "b_large_eps_reaches_zero":
        return f"(b) {100 * acc.largest_eps:.1f}% survive PGD at {LARGEST_EPS_255}/255"
    if name == "c_restarts_add_little":
        return f"(c) PGD from {RESTARTS} random starts leaves {_gap(acc.pgd, acc.pgd_restarts, n)} less than {pgd}"
    stronger, which = _stronger(acc)
    return f"(d) {which} leaves {_gap(best, stronger, n)} less than the best PGD"


def verdict_of(accuracies: dict, eps: str, n: int | None = None) -> str:
    """Today's verdict on accuracies stored as ``asdict(AttackAccuracies)`` at the budget labelled ``eps`` (a
    diagnosis's ``per_eps[eps]["accuracies"]``) on ``n`` images: a verdict stored as text keeps the wording of the
    code that wrote it."""
    return verdict(AttackAccuracies(**accuracies), PGD_NAMES.get(eps, "PGD-10"), n)


# each check by what it measures (a failed one is worded by what was found: ``_failure``)
_LABELS = {"a_iterative_beats_single_step": "(a) iterative against single-step",
           "b_large_eps_reaches_zero": "(b) large ε",
           "c_restarts_add_little": "(c) random restarts",
           "d_stronger_loss_adds_little": "(d) a stronger loss or optimiser"}
