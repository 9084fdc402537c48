"""The attack registry: its column names are the published report's (stored results are read by them), its
kinds are the command line's, and a kind is refused by name."""

import subprocess
import sys

import pytest

from vaeadv.report import columns
from vaeadv.robust.kinds import ATTACKS, KINDS, attack_kind, choices_help, column


def test_report_columns_are_the_published_ones():
    # the names under which the published report stored its run matrix (docs/report/results.json)
    assert [columns.FGSM_KEY, columns.PGD_KEY, columns.STRONG_KEY, columns.FGSM_PIXEL_KEY, columns.PGD_PIXEL_KEY,
            columns.NOISE_PIXEL_KEY, columns.STRONG_PIXEL_KEY] == [
        "FGSM ε=0.1 (norm.)", "PGD ε=0.1 (norm.)", "APGD-CE+T ε=0.1 (norm.)", "FGSM ε=8/255", "PGD ε=8/255",
        "noise ε=8/255", "APGD-CE+T ε=8/255"]


def test_published_matrix_has_exactly_these_columns():
    import json
    from pathlib import Path

    matrix = json.loads((Path(__file__).parents[2] / "docs/report/results.json").read_text())
    rows = matrix["results"]["adversarial_matrix"]["rows"]
    names = {column(k, e) for k in ("fgsm", "pgd", "strong") for e in (columns.NORM, columns.PIXEL)}
    masking = {"FGSM ε=0.1 (norm.), nll on logits", "PGD ε=0.1 (norm.), α=2.5ε/10, 5 random starts",
               "PGD ε=8/255, 5 random starts", "PGD ε=64/255"}  # the template's loss; checks (c) and (b)
    assert set(rows[0]["robust_accuracy"]) == names | {columns.NOISE_PIXEL_KEY} | masking
    assert masking == {columns.FGSM_NLL_KEY, columns.pgd_restarts_key(10), columns.PGD_RESTARTS_PIXEL_KEY,
                       columns.PGD_LARGE_KEY}


def test_kinds_and_their_settings():
    assert KINDS == ("fgsm", "pgd", "noise", "apgd-ce", "apgd-dlr", "apgd-t", "strong")
    assert [k.name for k in ATTACKS.values() if k.parameter_free] == ["apgd-ce", "apgd-dlr", "apgd-t", "strong"]
    assert {k.steps for k in ATTACKS.values() if k.parameter_free} == {100}  # the authors' iterations
    assert ATTACKS["pgd"].steps == 10  # the template's PGD-10
    with pytest.raises(ValueError, match=r"^unknown attack kind 'cw' \(use fgsm, "):
        attack_kind("cw")


def test_the_help_of_attack_names_every_kind_in_order_separated_by_semicolons():
    parts = choices_help().split("; ")
    assert [p.split(": ", 1)[0] for p in parts] == list(KINDS)
    assert parts[1] == f"pgd: {ATTACKS['pgd'].help}"


def test_the_registry_imports_no_torch():
    probe = "import sys, vaeadv.robust.kinds, vaeadv.report.columns; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0
