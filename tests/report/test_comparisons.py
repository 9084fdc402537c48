"""The run matrix read as controlled comparisons and beside the course's figures, from hand-made rows."""

import pytest

from tests.report.helpers import newcombe
from vaeadv.report.comparisons import (
    FINETUNE_CONTROL,
    PGD_CONTROL,
    SHIPPED_STANDARD,
    controlled_differences,
    course_rows,
    kept_epochs,
)
from vaeadv.report.render import build
from vaeadv.report.scales import SCALES

FGSM, FGSM_NLL, PGD = "FGSM ε=0.1 (norm.)", "FGSM ε=0.1 (norm.), nll on logits", "PGD ε=0.1 (norm.)"


def _row(model, defense, augment, pretrained, clean, robust, tuned=False, epochs=5):
    return {"model": model, "defense": defense, "augment": augment, "pretrained": pretrained, "tuned": tuned,
            "clean_accuracy": clean, "robust_accuracy": robust, "clean_test_accuracy": clean, "test_images": 10000,
            "seconds_per_epoch": 1.0, "epochs": epochs}


ROWS = [
    _row("shipped", "standard", True, "vaeadv-resnet18", 0.93, {FGSM: 0.10, FGSM_NLL: 0.15, PGD: 0.01}),
    _row("fgsm", "fgsm", True, "vaeadv-resnet18", 0.88, {FGSM: 0.60, FGSM_NLL: 0.62, PGD: 0.30}),
    _row("control", "standard", True, "vaeadv-resnet18", 0.92, {FGSM: 0.12, PGD: 0.02}, tuned=True),
    _row("fgsm plain", "fgsm", False, "vaeadv-resnet18", 0.86, {FGSM: 0.55, PGD: 0.25}),
    _row("scratch", "standard", False, None, 0.80, {FGSM: 0.05}),
]
MATRIX = {"images": 1000, "rows": ROWS, "attacks": [FGSM, PGD, FGSM_NLL],
          "evaluated_on": "first 1000 test images", "pgd_steps": 10, "eps_pixel_of_template": [0.0247] * 3}


def test_rows_are_picked_by_what_they_are_not_by_their_place():
    assert SHIPPED_STANDARD.find(ROWS)["model"] == "shipped"
    assert FINETUNE_CONTROL.find(ROWS)["model"] == "control"  # the tuned one, not the shipped one before it
    assert FINETUNE_CONTROL.find(ROWS[:2]) is None
    short = _row("control 2", "standard", True, "vaeadv-resnet18", 0.91, {PGD: 0.02}, tuned=True, epochs=2)
    assert FINETUNE_CONTROL.find([short, *ROWS])["model"] == "control"  # the 5-epoch one for the 5-epoch defense
    assert PGD_CONTROL.find([*ROWS, short])["model"] == "control 2" and PGD_CONTROL.find(ROWS) is None


def test_the_pgd_defense_is_compared_with_the_fine_tune_of_its_own_length():
    pgd = _row("pgd", "pgd", True, "vaeadv-resnet18", 0.839, {PGD: 0.216}, epochs=2)
    short = _row("control 2", "standard", True, "vaeadv-resnet18", 0.900, {PGD: 0.019}, tuned=True, epochs=2)
    found = {f["model"]: f for f in controlled_differences({"images": 1000, "rows": [*ROWS, pgd, short]})}
    assert found["pgd"]["control"] == "control 2"
    d, low, high = found["pgd"]["differences"][PGD]  # 216 − 19 of 1000; Newcombe from the two Wilson intervals by hand
    assert round(d, 3) == 0.197 and round(low, 4) == 0.1704 and round(high, 4) == 0.2244


def test_each_comparison_pairs_a_row_with_its_control_and_leaves_out_what_is_missing():
    found = controlled_differences(MATRIX)
    assert [(f["model"], f["control"]) for f in found] == [("fgsm", "control"), ("fgsm", "fgsm plain")]
    bought = found[0]["differences"]
    assert set(bought) == {"clean, all test images", "clean", FGSM, PGD}  # the nll column is on one row only
    d, low, high = bought[FGSM]  # 600 − 120 of 1000
    assert round(d, 3) == 0.48 and low < 0.48 < high and low > 0.4
    assert round(bought["clean"][0], 3) == -0.04
    # the all-images column reads each row's 10,000 (8,800 − 9,200 correct): the same −4 points, on ten times the
    # images (Newcombe's interval from the independent formula in tests/report/helpers.py)
    assert bought["clean, all test images"] == pytest.approx(newcombe(8800, 10000, 9200, 10000))
    assert controlled_differences({"images": 1000, "rows": ROWS[:2]}) == []


def test_the_course_table_sets_the_template_columns_beside_the_course_figures():
    got = {(x["model"], x["measure"]): x for x in course_rows(MATRIX)}
    assert got[("shipped", "FGSM")]["course"] == 0.41 and got[("shipped", "FGSM")]["ours"] == {FGSM_NLL: 0.15,
                                                                                                 FGSM: 0.10}
    assert got[("shipped", "PGD-10")]["course"] == (0.08, 0.22)
    assert got[("fgsm", "FGSM")]["course"] == 0.586 and got[("fgsm", "clean")]["ours"] == {"clean": 0.88}
    assert len(got) == 6  # no PGD-defended row here


def test_the_report_shows_both_tables_under_the_run_matrix():
    md = "\n".join(str(b) for b in build({"adversarial_matrix": MATRIX}, SCALES["real"], {}).blocks)
    assert "Controlled comparisons: what one setting changed" in md and "+48.0 [" in md
    assert "Beside the course's reference figures" in md and "8–22%" in md and "58.6%" in md
    assert "JPEG-decoded" in md  # the list of differences from the course's setup


def test_a_comparison_names_the_epochs_each_side_was_scored_at_and_the_caption_its_single_runs():
    """A defense kept at its first epoch beside a control kept at its third is not 'the same fine-tune' at the
    same length: the label says so, read off the checkpoints' names (best-epoch=000 is epoch 1)."""
    rows = [{**ROWS[1], "checkpoint": "runs/x/fgsm/checkpoints/best-epoch=000-val_acc=0.8590.ckpt"},
            {**ROWS[2], "checkpoint": "runs/y/standard/checkpoints/best-epoch=002-val_acc=0.8950.ckpt"}, ROWS[3]]
    matrix = {**MATRIX, "rows": rows}
    found = controlled_differences(matrix)
    assert [f["kept"] for f in found] == [(1, 3), (1, None)]  # the plain FGSM row names no checkpoint
    assert [kept_epochs(f) for f in found] == [(1, 3), None]  # an unknown side: no epochs said at all
    md = "\n".join(str(b) for b in build({"adversarial_matrix": matrix}, SCALES["real"], {}).blocks)
    assert "(fgsm − control; kept epochs 1 and 3)" in md and "(fgsm − fgsm plain)" in md
    assert "Each side is one training run with one seed" in md
