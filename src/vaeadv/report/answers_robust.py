"""Part 2's answers (adversarial robustness), each pointing at the number or table of the report that supports
it, and the reading of the run matrix they share (its rows, its masking checks)."""

from __future__ import annotations

from vaeadv.report.columns import (
    FGSM_KEY,
    FGSM_NLL_KEY,
    FGSM_PIXEL_KEY,
    NORM,
    PGD_KEY,
    PGD_LARGE_KEY,
    PGD_PIXEL_KEY,
    PGD_RESTARTS_PIXEL_KEY,
    PIXEL,
    STRONG_KEY,
    STRONG_PIXEL_KEY,
    pgd_restarts_key,
)
from vaeadv.report.comparisons import (
    AUGMENTED,
    CLEAN,
    CLEAN_ALL,
    COURSE_FGSM_DEFENDED,
    COURSE_PRETRAINED,
    DEFENSE_CONTROLS,
    FGSM_DEFENDED,
    FGSM_PLAIN,
    PGD_DEFENDED,
    PLAIN,
    SHIPPED_STANDARD,
    accuracy,
    controlled_differences,
    difference,
    kept_epoch,
    kept_epochs,
)
from vaeadv.report.quoting import Answer, Results, fixed, lookup, pct, pct_ci
from vaeadv.robust.masking import GAP, PGD_NAMES, AttackAccuracies, best_pgd, verdict, verdict_of
from vaeadv.stats import difference_interval, wilson_interval

ALMOST_NOTHING = 0.05  # accuracy under APGD-CE+T below which a model is read as not robust at all
ONE_PAIR = "in this pair (one training run each)"  # a single-seed pair's reading says it is one


def _with_ci(r: Results, row, key: str | None) -> str:
    """An accuracy of a run-matrix row on the attacked images (``key`` None: clean), with its 95% interval."""
    value = lookup(row, "clean_accuracy") if key is None else accuracy(row, key)
    n = (r.get("adversarial_matrix") or {}).get("images")
    return pct_ci(value, n)


def _matrix_row(r: Results, defense: str, augment: bool | None = False):
    """The run matrix's row of ``defense`` with/without augmentation (``None``: its first row, either way)."""
    for row in (r.get("adversarial_matrix") or {}).get("rows", []):
        # rows stored before the rename name the defense "strategy"
        if row.get("defense", row.get("strategy")) == defense and augment in (None, row["augment"]):
            return row
    return None


def masking_gaps(matrix: dict | None) -> list[dict]:
    """Per model of the run matrix and ε, FGSM's and PGD's accuracies against AutoAttack-lite's (APGD-CE, then
    APGD-T on the survivors), the gap, and the verdict of the masking checks those columns allow
    (``vaeadv.robust.masking``: with PGD from random starts and PGD at 64/255 where the matrix has them); ``masked``
    where the verdict is gradient masking. Empty where the matrix has no strong columns."""
    out = []
    steps, n = (matrix or {}).get("pgd_steps", 10), (matrix or {}).get("images")
    for row in (matrix or {}).get("rows", []):
        for eps, fgsm_key, pgd_key, restarts_key, strong_key in (
                (NORM, FGSM_KEY, PGD_KEY, pgd_restarts_key(steps), STRONG_KEY),
                (PIXEL, FGSM_PIXEL_KEY, PGD_PIXEL_KEY, PGD_RESTARTS_PIXEL_KEY, STRONG_PIXEL_KEY)):
            pgd, strong = accuracy(row, pgd_key), accuracy(row, strong_key)
            if pgd is not None and strong is not None:
                measured = AttackAccuracies(fgsm=accuracy(row, fgsm_key), pgd=pgd,
                                            pgd_restarts=accuracy(row, restarts_key), apgd=strong,
                                            largest_eps=accuracy(row, PGD_LARGE_KEY))
                said = verdict(measured, PGD_NAMES[eps], n)
                out.append({"model": row["model"], "eps": eps, "fgsm": measured.fgsm, "pgd": pgd,
                            "pgd_restarts": measured.pgd_restarts, "largest_eps": measured.largest_eps,
                            "strong": strong, "gap": pgd - strong,
                            "best_gap": best_pgd(measured) - strong,
                            "verdict": said,
                            "masked": said.startswith("gradient masking")})
    return out


def _pretrained_standard(r: Results):
    """The row the question asks about: the pretrained standard ResNet18 where the matrix has one."""
    return SHIPPED_STANDARD.find((r.get("adversarial_matrix") or {}).get("rows", [])) or _matrix_row(r, "standard")


def _course_outside(r: Results, ours: float, course: float) -> str:
    """Where the course's figure lies outside our interval: said, with the cause left open (the setups differ in
    the ways the course-comparison table lists, and no controlled run separates them)."""
    n = (r.get("adversarial_matrix") or {}).get("images")
    if not n:
        return ""
    side = _side_of_interval(course, ours, n)
    if side is None:
        return f"; the course's {100 * course:.1f}% lies inside that interval"
    return (f"; the course's {100 * course:.1f}% lies {side} that interval, and which of the differences listed "
            "under the course-comparison table causes the gap is not tested here")


def _side_of_interval(course: float, ours: float, n: int) -> str | None:
    """"above" or "below" where the course's figure lies outside the Wilson interval of ours on ``n`` images."""
    low, high = wilson_interval(round(ours * n), n)
    return "above" if course > high else "below" if course < low else None


def _q2_1_accuracies(r: Results) -> Answer:
    std = _pretrained_standard(r)
    name = f"The pretrained {std['pretrained']}" if std and std.get("pretrained") else "Standard ResNet18"
    text = (f"{name} (trained here; configuration in the table caption and reductions): clean "
            f"{_with_ci(r, std, None)}, under FGSM ε=0.1 (normalised) {_with_ci(r, std, FGSM_KEY)} on the "
            "attacked images ([low, high]: 95% Wilson interval).")
    if std and std.get("pretrained"):
        clean, fgsm = COURSE_PRETRAINED["clean"], COURSE_PRETRAINED["fgsm"]
        text += (f" The course's pretrained ResNet18 (same architecture) reaches {100 * clean:.2f}% clean and about "
                 f"{100 * fgsm:.0f}% under FGSM at the same ε (the template's FGSM climbs nll_loss on raw logits; "
                 "this row's climbs the cross-entropy); ours reaches "
                 f"{pct_ci(lookup(std, 'clean_test_accuracy'), lookup(std, 'test_images'))} on all "
                 + (f"{std['test_images']:,} " if std.get("test_images") else "") + "test images (their pixels: "
                 "the run-matrix caption).")
        if accuracy(std, FGSM_NLL_KEY) is not None:
            text += (f" With the template's own loss (nll on the raw logits) FGSM leaves ours "
                     f"{_with_ci(r, std, FGSM_NLL_KEY)} (the course-comparison table)"
                     + _course_outside(r, accuracy(std, FGSM_NLL_KEY), fgsm) + ".")
    fgsm, strong = accuracy(std, FGSM_KEY), accuracy(std, STRONG_KEY)
    if None not in (fgsm, strong) and fgsm - strong > GAP:
        checked = next((g for g in masking_gaps(r.get("adversarial_matrix"))
                        if g["model"] == std["model"] and g["eps"] == NORM), None)
        why = ("the masking checks flag gradient masking" if checked and checked["masked"] else
               "one signed step finds fewer adversarial examples than an iterative attack" + (
                   f"; the masking checks read \"{checked['verdict']}\"" if checked else ""))
        text += (" That FGSM figure overstates the robustness: APGD-CE+T at the same ε leaves "
                 f"{_with_ci(r, std, STRONG_KEY)} — {why} (masking table).")
    return "Q2.1 (accuracies).", text + _attack_loss_reading(r) + _larger_eps(r)


_LOSS_COLUMNS = (("fgsm-ce", "FGSM (cross-entropy)"), ("fgsm-nll", "FGSM on the template's nll"),
                 ("fgsm-margin", "FGSM on the margin"), ("pgd-ce", "the template's PGD-10"),
                 ("pgd-nll", "PGD-10 on the nll"), ("apgd-ce+t", "APGD-CE+T"))


def _diagnosed(m: dict, attack: str) -> float | None:
    ci = (m.get("intervals") or {}).get(f"{NORM} {attack}")
    return None if ci is None else ci["accuracy"]


def _attack_loss_reading(r: Results) -> str:
    """What the attack-loss table shows at the template's ε: the shipped file against the ablation beside it, then
    the controlled pair (label smoothing alone) where the table has it."""
    table = r.get("attack_losses") or {}
    models, n = table.get("models") or [], table.get("images")
    pair_folders = set(table.get("smoothing_pair_folders") or ())
    other = next((m for m in models[1:] if m.get("folder") not in pair_folders), None)
    pair = [next(m for m in models if m["label"] == label) for label in table.get("smoothing_pair") or ()]
    text = ""
    if other is not None:
        shipped = models[0]
        said = ", ".join(f"{name} {pct(_diagnosed(shipped, key))} against {pct(_diagnosed(other, key))}"
                         for key, name in _LOSS_COLUMNS)
        text = (f" The attack-loss table sets this file beside {other['label']} on the same images: at ε = 0.1 "
                f"(normalised) {said}; the masking checks read \"{_verdict_at(shipped, NORM, n)}\" for this file "
                f"and \"{_verdict_at(other, NORM, n)}\" for the other. The two files differ in more than label "
                "smoothing (the label says how)")
    if len(pair) == 2:
        return text + ("; " if text else " In the attack-loss table, ") + _smoothing_pair(pair, n, other)
    return text + (", so which difference causes the gap is not tested here." if text else "")


def _smoothing_pair(pair: list[dict], n: int, other: dict | None) -> str:
    """The controlled comparison of label smoothing: two models trained alike but for it, under the same attacks,
    with Newcombe's interval per attack, which attacks it moved (interval clear of 0), and whether the masking
    verdict changes with it alone; ``other``, the longer smoothed file, is read against that where it is masked."""
    without, with_it = pair
    said, raised, lowered, held = [], [], [], []
    for key, name in _LOSS_COLUMNS:
        a, b = _diagnosed(without, key), _diagnosed(with_it, key)
        if None not in (a, b):
            found = difference_interval(round(b * n), n, round(a * n), n)
            said.append(f"{name} {pct(a)} → {pct(b)} ({_points(found)})")
            if found[1] > 0:
                raised.append(name)
            elif found[2] < 0:
                lowered.append(name)
            else:
                held.append(name)
    if not said:
        return "the controlled pair's diagnoses share no attack at ε = 0.1 (normalised), so nothing is compared."
    clauses = []
    if raised:
        clauses.append(f"{ONE_PAIR}, label smoothing alone raised the accuracy under {_joined(raised)} (95% "
                       "interval above 0)")
    if lowered:
        clauses.append(f"it lowered the accuracy under {_joined(lowered)} (95% interval below 0)")
    if clauses and held:  # the attacks it did not move, said beside the ones it did
        clauses.append(f"under {_joined(held)} the interval holds 0")
    moved = "; ".join(clauses) or "label smoothing alone moved no attack's accuracy beyond its 95% interval"
    verdicts = (_verdict_at(without, NORM, n), _verdict_at(with_it, NORM, n))
    masked = [v.startswith("gradient masking") for v in verdicts]
    unresolved = "not resolved" in verdicts[1]
    reading = ("label smoothing alone turns the verdict to suspected masking, but not resolved on these images"
               if masked == [False, True] and unresolved else
               "label smoothing alone turns the verdict to gradient masking: this pair is the controlled evidence "
               "that it masks the gradient attacks" if masked == [False, True] else
               "the verdict does not change with label smoothing alone" if masked[0] == masked[1] else
               "the verdict turns the other way")
    if masked == [False, False] and other is not None and _verdict_at(other, NORM, n).startswith("gradient masking"):
        reading += (f", so the failed checks of {other['label']} are not explained by label smoothing alone at "
                    "this length; that file differs in its epochs too, and what makes its checks fail is not tested "
                    "here")
    return (f"the controlled pair (the table's two models marked \"the controlled pair\": the same recipe, seed and "
            f"data, only the label smoothing differing) shows what label smoothing alone does, at ε = 0.1 "
            f"(normalised), without → with it: {', '.join(said)}; {moved}; the masking checks read "
            f"\"{verdicts[0]}\" → \"{verdicts[1]}\": {reading}.")


def _joined(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _verdict_at(diagnosed: dict, eps: str, n: int | None) -> str:
    return verdict_of(diagnosed["per_eps"][eps]["accuracies"], eps, n)


def _curve_model(r: Results) -> tuple[str, int | None]:
    """The ε curves' standard model by name, and the number of images they were measured on (None where a result
    stored before they were recorded)."""
    curves = r.get("robustness_curves") or {}
    return (curves.get("models") or {}).get("standard", "the standard model"), curves.get("images")


def _larger_eps(r: Results) -> str:
    """What the ε curves show beyond the template's ε, for the standard model: PGD at the largest ε, and FGSM there,
    with its lowest point where a larger single step did worse (the curve is read, not assumed to fall)."""
    curves = lookup(r, "robustness_curves", "curves", "standard")
    if not curves or not curves.get("fgsm") or not curves.get("pgd"):
        return ""
    name, n = _curve_model(r)
    fgsm, pgd = curves["fgsm"], curves["pgd"]
    lowest = min(fgsm, key=lambda p: p["accuracy"])
    text = (f" At larger ε (accuracy-vs-ε figure, {name}" + (f", {n:,} images" if n else "") + f") PGD leaves "
            f"{pct_ci(pgd[-1]['accuracy'], n)} at ε = {round(255 * pgd[-1]['eps'])}/255 and FGSM "
            f"{pct_ci(fgsm[-1]['accuracy'], n)}")
    if fgsm[-1]["accuracy"] > lowest["accuracy"]:
        text += f", more than its {pct_ci(lowest['accuracy'], n)} at {round(255 * lowest['eps'])}/255"
        found = difference_interval(round(fgsm[-1]["accuracy"] * n), n, round(lowest["accuracy"] * n), n) if n \
            else None
        if found is not None and found[1] <= 0:
            text += f" ({_points(found)}: a rise not resolved on these {n:,} images)"
        else:
            text += ((f" ({_points(found)})" if found else "") + ": one step of that size does worse than a smaller "
                     "one (why is not tested here)")
    return text + "."


def _q2_1_noise(r: Results) -> Answer:
    curves = r.get("robustness_curves")
    noise_text = ""
    if curves:
        pts = curves["curves"]["standard"]
        # the customary budget where the curve has it (far beyond it noise alone destroys the image), else its last
        at = next((i for i, p in enumerate(pts["noise"]) if round(255 * p["eps"]) == 8), len(pts["noise"]) - 1)
        rand, grad = pts["noise"][at], pts["fgsm"][at]
        name, n = _curve_model(r)
        noise_text = (f" Measured on {name} (accuracy-vs-ε figure" + (f", {n:,} images" if n else "") + "): at ε = "
                      f"{rand['eps'] * 255:g}/255 random signs leave {pct_ci(rand['accuracy'], n)}, FGSM "
                      f"{pct_ci(grad['accuracy'], n)}.")
    return ("Q2.1 (random noise vs FGSM).",
            "FGSM moves every pixel by ε in the direction that increases the loss fastest (to first order). "
            "Random signs are almost orthogonal to that direction in a 3072-dimensional input (their normalised "
            "overlap with the gradient's signs is 0 on average and typically about ±1/√3072 ≈ ±0.02), so to first "
            "order their effect on the loss averages out. That first-order argument is the usual explanation; the "
            "measurement shows the effect, not its cause." + noise_text)


def _q2_1_transfer(r: Results) -> Answer:
    transfer = r.get("transfer")
    t = transfer or {}
    n = t.get("images")
    said = [f"{attack.split()[0]} from A leaves B {pct_ci(table['A']['B'], n)} (B under its own: "
            f"{pct_ci(table['B']['B'], n)})" for attack, table in t.get("matrix", {}).items()
            if not attack.startswith("noise")]
    noise = next((table for attack, table in t.get("matrix", {}).items() if attack.startswith("noise")), None)
    if said and noise:  # the baseline that says the transfer is more than any perturbation of that size
        said.append(f"random-sign noise of the same size from A leaves B {pct_ci(noise['A']['B'], n)}")
    transfer_text = (" Measured (transfer tables, " + (f"{n:,} " if n else "the ") + "attacked images, B clean "
                     f"{pct_ci(t['clean']['B'], n)}): "
                     + "; ".join(said) + "." if said else "")
    return ("Q2.1 (transfer).",
            "The usual explanation (not tested here): both models learn from the same distribution with the same "
            "architecture and objective, so they pick up similar features, including the same non-robust but "
            "predictive ones, and end up with similar, nearly linear decision boundaries around the data; a "
            "perturbation along the loss gradient of A is then also largely aligned with B's gradient."
            + transfer_text)


def _q2_1_augmentation(r: Results) -> Answer:
    rows = (r.get("adversarial_matrix") or {}).get("rows", [])
    std, std_aug = PLAIN.find(rows), AUGMENTED.find(rows)
    aug_clean = (lookup(std, "clean_test_accuracy"), lookup(std_aug, "clean_test_accuracy"))
    aug_fgsm = (accuracy(std, FGSM_KEY), accuracy(std_aug, FGSM_KEY))
    if None in aug_clean or None in aug_fgsm:
        absent = ("The run matrix" if not r.get("adversarial_matrix") else
                  "The standard model without augmentation" if std is None else
                  "The augmented standard model trained like it (same recipe and epochs)" if std_aug is None
                  else "A standard model's test accuracy")
        shipped = SHIPPED_STANDARD.find(rows)
        measured = f" ({absent} is not in this report yet" + (
            f"; {shipped['model']}, trained longer and with other settings, is no like-for-like comparison.)"
            if shipped else ".)")
    else:
        measured = (f" Measured (run matrix, standard without → with crop+flip, the same recipe and epochs): "
                    f"clean on all test images {pct(aug_clean[0])} → {pct(aug_clean[1])}, at ε = 0.1 (norm.) FGSM "
                    f"on the attacked images {pct(aug_fgsm[0])} → {pct(aug_fgsm[1])}"
                    + _strong_pair(std, std_aug) + _bought(r, AUGMENTED, PLAIN) + "." + _clean_reading(std, std_aug))
    return ("Q2.1 (augmentation).",
            "Augmentation (random crops and flips) shows the model more varied images. The usual expectation "
            "(its mechanism is not tested here): the model overfits less and so reaches higher clean accuracy, "
            "while it is not expected to make the model robust, since crops and flips are not worst-case "
            "perturbations and a signed-gradient step still crosses the boundary." + measured
            + _attacks_reading(_comparison(r, AUGMENTED, PLAIN), std, std_aug))


def _clear_of_zero(difference: tuple[float, float, float]) -> bool:
    """Whether a difference's 95% interval excludes 0: a difference the run shows."""
    return difference[1] > 0 or difference[2] < 0


def _attacks_reading(found: dict | None, plain, augmented) -> str:
    """Which attacks augmentation moved beyond the interval, and, where APGD-CE+T leaves both models almost
    nothing, that those moves are in how far the weaker attacks get, not in robustness."""
    if found is None:
        return ""
    moved = {c: d for c, d in found["differences"].items() if c not in (CLEAN, CLEAN_ALL) and _clear_of_zero(d)}
    if not moved:
        return " No attack's accuracy moved beyond its interval."
    lowered, raised = [c for c, d in moved.items() if d[2] < 0], [c for c, d in moved.items() if d[1] > 0]
    said = []
    if lowered:
        said.append(f"lowered the accuracy under {_joined(lowered)}")
    if raised:
        said.append(f"raised {'it' if lowered else 'the accuracy'} under {_joined(raised)}")
    text = f" {ONE_PAIR.capitalize()}, augmentation " + " and ".join(said) + " (interval clear of 0)"
    strong = (accuracy(plain, STRONG_KEY), accuracy(augmented, STRONG_KEY))
    if None not in strong and max(strong) < ALMOST_NOTHING and not {STRONG_KEY, STRONG_PIXEL_KEY} & set(moved):
        text += (f", while APGD-CE+T leaves both models almost nothing ({pct(strong[0])} and {pct(strong[1])}): the "
                 "difference is in how far the weaker attacks get, not in robustness; why it goes this way is not "
                 "tested here")
    return text + "."


def _clean_reading(plain: dict, augmented: dict) -> str:
    """Whether augmentation changed clean accuracy on all the test images, by Newcombe's interval (else none is
    read into the point estimates)."""
    found = difference(augmented, plain, CLEAN_ALL, 0)
    if found is None:
        return ""
    _, low, high = found
    said = f" On all {augmented['test_images']:,} test images the clean difference is {_points(found)}: "
    if low > 0:
        return said + f"{ONE_PAIR}, augmentation raised clean accuracy at this training length."
    if high < 0:
        return said + (f"{ONE_PAIR}, augmentation lowered clean accuracy at this training length; whether longer "
                       "training reverses that is not tested here.")
    return said + "no difference in clean accuracy is measurable."


def _points(difference: tuple[float, float, float]) -> str:
    """A difference of two accuracies with its 95% interval, in percentage points: "+1.5 points [+0.7, +2.5]"."""
    d, low, high = difference
    return f"{100 * d:+.1f} points [{100 * low:+.1f}, {100 * high:+.1f}]"


def _comparison(r: Results, with_it, control) -> dict | None:
    """The controlled comparison of the rows ``with_it`` and ``control`` choose, None where the matrix lacks either."""
    return next((f for f in controlled_differences(r.get("adversarial_matrix")) if f["pair"] == (with_it, control)),
                None)


def _bought(r: Results, with_it, control) -> str:
    """That comparison in words (``_in_words``); empty where the matrix lacks either row."""
    found = _comparison(r, with_it, control)
    return "" if found is None else _in_words(found)


def _in_words(found: dict) -> str:
    """A comparison's differences on the attacked images with their intervals (the controlled-comparisons table)."""
    said = [f"{column} {_points(d)}" for column, d in found["differences"].items()]
    kept = kept_epochs(found)
    unequal = (f" (scored after unequal training: kept epochs {kept[0]} and {kept[1]}, each the best clean accuracy "
               "on the held-out images)" if kept and kept[0] != kept[1] else "")
    return f"; the difference with its 95% interval (controlled-comparisons table){unequal}: {', '.join(said)}"


def _strong_pair(before, after) -> str:
    """APGD-CE+T at the template's ε for two rows, where both have it: what is left when masking is seen through."""
    strong = (accuracy(before, STRONG_KEY), accuracy(after, STRONG_KEY))
    if None in strong:
        return ""
    return (f", APGD-CE+T {pct(strong[0])} → {pct(strong[1])} (neither model is robust: the strong attack leaves "
            "almost nothing of what FGSM leaves)" if max(strong) < ALMOST_NOTHING else
            f", APGD-CE+T {pct(strong[0])} → {pct(strong[1])}")


def _q2_2_results(r: Results) -> Answer:
    rows = (r.get("adversarial_matrix") or {}).get("rows", [])
    std = SHIPPED_STANDARD.find(rows) or _matrix_row(r, "standard", None)
    fgsm = FGSM_DEFENDED.find(rows) or _matrix_row(r, "fgsm", None)
    text = (f"FGSM-defended model: clean {_with_ci(r, fgsm, None)}, FGSM {_with_ci(r, fgsm, FGSM_KEY)}, PGD "
            f"{_with_ci(r, fgsm, PGD_KEY)}; standard model: clean {_with_ci(r, std, None)}, FGSM "
            f"{_with_ci(r, std, FGSM_KEY)}, PGD {_with_ci(r, std, PGD_KEY)} (run-matrix table).")
    if fgsm and fgsm.get("pretrained"):
        c = COURSE_FGSM_DEFENDED
        text += (f" The course's reference run, 5 epochs of FGSM training from its pretrained model, reports "
                 f"{pct(c['clean'])} clean, {pct(c['fgsm'])} under FGSM and {pct(c['pgd'])} under PGD; such "
                 "reference figures are others' runs on a model we cannot obtain, so only a difference outside "
                 "our intervals says more than that." + _finetune_reading(r, std, fgsm))
    return "Q2.2 (defense results).", text


def _kept(row) -> str:
    """" (weights after epoch k of n, ...)": which epoch of a trained row was scored, where its checkpoint says."""
    k = kept_epoch(row)
    return "" if k is None else (f" (weights after epoch {k} of {row['epochs']}, the best clean accuracy on the "
                                 "held-out images)")


def _finetune_reading(r: Results, std, fgsm) -> str:
    """What our fine-tune from the pretrained model changed, and whether the course's FGSM figure lies above
    our interval (then the gap is real, and the likely reason is said)."""
    before, after = accuracy(std, FGSM_KEY), accuracy(fgsm, FGSM_KEY)
    n = (r.get("adversarial_matrix") or {}).get("images")
    if None in (before, after, lookup(std, "clean_accuracy"), lookup(fgsm, "clean_accuracy")) or not n:
        return ""
    text = (f" From our pretrained model, the fine-tune with the template's optimiser (SGD, lr 5e-4, momentum "
            f"0.9){_kept(fgsm)} moved FGSM accuracy from {pct(before)} to {pct(after)} and PGD from "
            f"{pct(accuracy(std, PGD_KEY))} to {pct(accuracy(fgsm, PGD_KEY))}, while clean accuracy went from "
            f"{pct(std['clean_accuracy'])} to {pct(fgsm['clean_accuracy'])}.")
    strong = (accuracy(std, STRONG_KEY), accuracy(fgsm, STRONG_KEY))
    if after < before and None not in strong:
        text += (f" FGSM accuracy fell, while under the parameter-free APGD-CE+T the fine-tune went from "
                 f"{pct(strong[0])} to {pct(strong[1])}: FGSM's figure does not track the robustness of these "
                 "models (the masking table gives each one's verdict).")
    bought = _bought(r, *DEFENSE_CONTROLS["FGSM defense"])
    if bought:
        text += (" Against the same fine-tune with the standard objective, which separates the FGSM objective from "
                 "fine-tuning as such" + bought + ".")
    else:
        text += (" What fine-tuning alone does (the standard-objective control) is not in this report: not tested "
                 "here.")
    text += _augmentation_in_defense(r, n) + _pretraining_in_defense(r)
    # the course's FGSM climbs nll on the logits: ours with the same loss where measured
    fgsm_column = FGSM_NLL_KEY if accuracy(fgsm, FGSM_NLL_KEY) is not None else FGSM_KEY
    outside = []
    for measure, course, column in (("FGSM", COURSE_FGSM_DEFENDED["fgsm"], fgsm_column),
                                    ("PGD-10", COURSE_FGSM_DEFENDED["pgd"], PGD_KEY)):
        ours = accuracy(fgsm, column)
        side = None if ours is None else _side_of_interval(course, ours, n)
        if side:
            outside.append(f"{measure} {pct(course)}, {side} our {_with_ci(r, fgsm, column)} ({column})")
    if outside:
        text += (" The course's figures lie outside our intervals: " + "; ".join(outside) + ". The two runs differ "
                 "in the model they start from and its training, in the training pixels (JPEG-decoded here) and in "
                 "the epoch whose weights are scored" + _kept(fgsm) + "; which difference causes the gap is not "
                 "tested here.")
    return text


def _pretraining_in_defense(r: Results) -> str:
    """The assignment's other hint (does the defense work better from a pretrained model?): said to be untested
    where the matrix has no FGSM defense trained from scratch beside the fine-tune."""
    rows = (r.get("adversarial_matrix") or {}).get("rows", [])
    if any(row.get("defense") == "fgsm" and not row.get("pretrained") for row in rows):
        return ""
    return (" Whether the defense works better from the pretrained model than from scratch (the assignment's "
            "other hint) is not tested here: every FGSM defense in this matrix is a fine-tune of the pretrained "
            "model.")


def _augmentation_in_defense(r: Results, n: int) -> str:
    """The assignment's hint (does the defense work with augmentation?) read off the same fine-tune with and without
    crop + flip; where every interval holds 0, it says the difference is not measurable on these images."""
    found = _comparison(r, FGSM_DEFENDED, FGSM_PLAIN)
    if found is None:
        return (" Whether augmentation changes what the defense does (the assignment's hint) is not tested here: "
                "the FGSM fine-tune without augmentation is not in this report.")
    text = (" The same FGSM fine-tune with and without crop + flip, for the assignment's hint on augmentation"
            + _in_words(found) + ".")
    resolved = {column: d for column, d in found["differences"].items() if _clear_of_zero(d)}
    epochs = (FGSM_DEFENDED.find(r["adversarial_matrix"]["rows"]) or {}).get("epochs")
    length = f" in a {epochs}-epoch fine-tune" if epochs else ""
    if resolved:
        text += (" Clear of 0" + length + ": " + "; ".join(f"{c} {_points(d)}" for c, d in resolved.items())
                 + ("; every other interval holds 0, so augmentation made no difference resolved on these images "
                    "there." if len(resolved) < len(found["differences"]) else "."))
    else:
        text += (f" Every interval holds 0: no difference is resolved on these images{length} (which does not show "
                 "there is none).")
    return text


def _q2_2_tradeoff(r: Results) -> Answer:
    rows = (r.get("adversarial_matrix") or {}).get("rows", [])
    costs = []
    for name, (defended, control) in DEFENSE_CONTROLS.items():
        found = _comparison(r, defended, control)
        column = next((c for c in (CLEAN_ALL, CLEAN) if c in (found or {}).get("differences", {})), None)
        if column is None:
            continue
        times = (lookup(defended.find(rows), "seconds_per_epoch"), lookup(control.find(rows), "seconds_per_epoch"))
        costs.append(f"{name} {_points(found['differences'][column])} ({column})" + (
            f" at {times[0]:.0f} s per epoch against {times[1]:.0f}" if None not in times else ""))
    measured = (" Measured (controlled-comparisons table: clean accuracy, defense − the same fine-tune with the "
                "standard objective; the s/epoch column, from single timed runs, so only large ratios are read): "
                + "; ".join(costs) + "." if costs else
                " No defense's standard-objective control is in this report, so its clean cost is not measured here.")
    return ("Q2.2 (trade-off).",
            "Defending costs training time, since each step needs extra forward/backward passes, and usually clean "
            "accuracy." + measured + " The usual explanation of the clean cost (not tested here): the model spends "
            "capacity on being flat within the ε-ball, which excludes some of the fine, non-robust features that "
            "are predictive on clean data." + _left_under_apgd(r))


def _left_under_apgd(r: Results) -> str:
    """What each fine-tune keeps under the parameter-free attack beside the undefended model: the other side of
    the trade-off, measured."""
    rows = (r.get("adversarial_matrix") or {}).get("rows", [])
    kept = [(name, pick.find(rows)) for name, pick in (("the undefended model", SHIPPED_STANDARD),
                                                        ("the FGSM defense", FGSM_DEFENDED),
                                                        ("the PGD defense", PGD_DEFENDED))]
    said = [f"{name} {_with_ci(r, row, STRONG_KEY)}" for name, row in kept if accuracy(row, STRONG_KEY) is not None]
    return f" Under APGD-CE+T at ε = 0.1 (normalised), {', '.join(said)} (run matrix)." if said else ""


def _q2_3_loss_vs_batch(r: Results) -> Answer:
    fgsm = _matrix_row(r, "fgsm", None)
    pgd = _matrix_row(r, "pgd", None)
    return ("Q2.3 (adversarial loss vs adversarial batch).",
            "They are closely related but not equivalent. The adversarial loss mixes clean and FGSM losses "
            "per example with weight α and uses a single-step perturbation computed from the current model; "
            "adding (PGD) adversarial examples to the batch gives clean and adversarial examples equal weight "
            "(α = 0.5 with a doubled batch) and uses a stronger, multi-step attack, so it optimises a "
            "different, tighter inner maximisation. They coincide when the attack is the same one-step FGSM "
            "and α = 0.5 (up to batch-norm statistics, which see a mixed batch in one case and separate passes "
            "in the other); they diverge when PGD finds points FGSM misses, where the batch defense should hold "
            "up better against PGD." + _defenses_compared(r, fgsm, pgd) + _pgd_bought(r))


def _pgd_bought(r: Results) -> str:
    """What PGD examples in the batch bought over the same fine-tune with the standard objective (its control)."""
    bought = _bought(r, *DEFENSE_CONTROLS["PGD defense"])
    if not bought:
        return (" What the PGD defense bought over fine-tuning alone (its standard-objective control) is not in this "
                "report: not tested here.")
    epochs = (PGD_DEFENDED.find(r["adversarial_matrix"]["rows"]) or {}).get("epochs")
    return (f" Against the same {epochs}-epoch fine-tune with the standard objective, PGD examples in the batch"
            + bought + ".")


def _defenses_compared(r: Results, fgsm, pgd) -> str:
    """The two defenses under PGD-10 and, where measured, under APGD-CE+T, with whether the difference is
    outside both 95% intervals (else it is not read as a difference)."""
    n = (r.get("adversarial_matrix") or {}).get("images")
    text = (f" Measured: PGD-10 leaves the FGSM-defended model {pct(accuracy(fgsm, PGD_KEY))} and the PGD-defended "
            f"model {pct(accuracy(pgd, PGD_KEY))}")
    masked = {g["model"]: g["verdict"] for g in masking_gaps(r.get("adversarial_matrix"))
              if g["eps"] == NORM and g["masked"]}
    flagged = [f"{name}: \"{masked[row['model']]}\"" for name, row in (("FGSM-defended", fgsm), ("PGD-defended", pgd))
               if row and row["model"] in masked]
    if flagged:
        text += (" (masking checks at this ε, " + "; ".join(flagged) + ": there only the APGD-CE+T number "
                 "estimates the robustness)")
    strong = (accuracy(fgsm, STRONG_KEY), accuracy(pgd, STRONG_KEY))
    if None in strong or not n:
        return text + "."
    found = difference(pgd, fgsm, STRONG_KEY, n)
    text += (f"; APGD-CE+T leaves them {pct(strong[0])} and {pct(strong[1])}, PGD-defended − FGSM-defended "
             f"{_points(found)} (Newcombe's 95% interval, {n:,} images)")
    kept = (f"; the epochs scored: {kept_epoch(fgsm)} of {fgsm['epochs']} against {kept_epoch(pgd)} of "
            f"{pgd['epochs']}" if kept_epoch(fgsm) and kept_epoch(pgd) else "")
    runs_differ = (f"; the two fine-tunes differ in more than their objective (the length of their runs{kept}; the "
                   "attack that makes their examples), so which difference causes it is not tested here.")
    if found[1] > 0:
        return text + " — the PGD-defended run keeps more under the strong attack" + runs_differ
    if found[2] < 0:
        return text + " — the FGSM-defended run keeps more under the strong attack" + runs_differ
    return text + ": the interval holds 0, so no difference between the two runs is resolved here."


def _q2_3_fgsm_vs_pgd(r: Results) -> Answer:
    curves = r.get("robustness_curves")
    cost = (curves or {}).get("cost")
    name, n = _curve_model(r)
    cost_text = (f" Measured on {name} at ε = 8/255: FGSM {fixed(cost['fgsm']['ms_per_image'], 2)} ms/image leaving "
                 f"{pct_ci(cost['fgsm']['accuracy'], n)}, PGD {fixed(cost['pgd']['ms_per_image'], 2)} ms/image leaving "
                 f"{pct_ci(cost['pgd']['accuracy'], n)}." if cost else "")
    return ("Q2.3 (FGSM vs PGD).",
            "FGSM costs one gradient, so it is cheap enough to use inside every training step and for quick "
            "evaluations. PGD costs one gradient per step but finds much stronger perturbations within the same "
            "ε, so it gives a more trustworthy robustness estimate (what it buys as a training attack: the "
            "controlled comparisons of Q2.3 above)." + cost_text + _strong_text(r))


def _strong_text(r: Results) -> str:
    """What the AutoAttack-lite columns add to Q2.3, where the run matrix has them."""
    gaps = masking_gaps(r.get("adversarial_matrix"))
    if not gaps:
        return ""
    pixel = {g["model"]: g for g in gaps if g["eps"] == "8/255"}
    far = [g for g in pixel.values() if g["gap"] > GAP]
    text = (" But PGD with 10 fixed-size steps is itself not the last word: APGD-CE then APGD-T (AutoAttack's "
            "parameter-free core) at ε = 8/255 leaves " + "; ".join(
                f"{m}: {pct(g['strong'])} (PGD {pct(g['pgd'])})" for m, g in pixel.items()) + ".")
    if far:
        text += (f" Where PGD-10 stays more than {100 * GAP:.0f} points above APGD, its number overstates what an "
                 "attacker achieves; trust only the APGD number there. Why, by the checks of the gradient-masking "
                 "table: " + "; ".join(f"{g['model']}: {g['verdict']}" for g in far) + ".")
    fast = _matrix_row(r, "fgsm-rs", None)
    if fast is not None and accuracy(fast, STRONG_PIXEL_KEY) is not None:
        text += (f" The {fast['model']} row trains with one gradient step per batch, as the FGSM defense does: FGSM "
                 "from a random start with a step of 1.25ε (Wong et al. 2020), from scratch, at ε = 8/255. It keeps "
                 f"{_with_ci(r, fast, STRONG_PIXEL_KEY)} under APGD-CE+T at 8/255 with "
                 f"{_with_ci(r, fast, None)} clean" + _beyond_undefended(r, fast)
                 + "; it differs from the FGSM defense in more than the random start (from scratch, ε, "
                 "step, epochs, a guard against catastrophic overfitting), so which of these makes the difference is "
                 "not tested here, and its training time is not in this matrix.")
    return text


def _beyond_undefended(r: Results, fast) -> str:
    """", more than the undefended model keeps (…)": said only where Newcombe's interval of the difference under
    APGD-CE+T at 8/255 clears 0."""
    std = _pretrained_standard(r)
    found = difference(fast, std, STRONG_PIXEL_KEY, (r.get("adversarial_matrix") or {}).get("images") or 0)
    if found is None or found[1] <= 0:
        return ""
    return (f", {_points(found)} above the undefended model under the same attack (the two differ in their whole "
            "training, not in one setting)")


PART2 = (
    _q2_1_accuracies, _q2_1_noise, _q2_1_transfer, _q2_1_augmentation, _q2_2_results, _q2_2_tradeoff,
    _q2_3_loss_vs_batch, _q2_3_fgsm_vs_pgd,
)
