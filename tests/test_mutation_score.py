"""The mutation-score script of `make mutate`: counting, the equivalents file and its staleness check."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation_score.py"
spec = importlib.util.spec_from_file_location("mutation_score", SCRIPT)
ms = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ms)

RESULTS = """
    vaeadv.data.idx.x_parse_idx__mutmut_1: killed
    vaeadv.data.idx.x_parse_idx__mutmut_2: survived
    vaeadv.data.idx.x_parse_idx__mutmut_3: survived
    vaeadv.data.idx.x_parse_idx__mutmut_4: timeout
    vaeadv.vae.module.xǁVAEǁforward__mutmut_1: no tests
    vaeadv.vae.module.xǁVAEǁforward__mutmut_2: killed
"""


def test_scores_per_module_leaving_equivalents_out(tmp_path):
    eq = tmp_path / "eq.toml"
    eq.write_text('[equivalent]\n"vaeadv.data.idx.x_parse_idx__mutmut_3" = { why = "any negative size" }\n')
    per_module, problems = ms.score(ms.read_results(RESULTS), ms.read_equivalents(eq))
    idx, module = per_module["data/idx.py"], per_module["vae/module.py"]
    assert (idx["killed"], idx["survived"], idx["equivalent"]) == (2, 1, 1)  # a timeout counts as a kill
    assert (module["killed"], module["survived"]) == (1, 1)  # a mutant no test reaches survives
    assert problems == []
    md = ms.table(per_module, markdown=True)
    assert "| data/idx.py | 4 | 2 | 1 | 1 | 0 | 66.7% |" in md and "| all | 6 | 3 | 2 | 1 | 0 | 60.0% |" in md


def test_a_stale_equivalent_is_a_problem(tmp_path):
    eq = tmp_path / "eq.toml"
    eq.write_text('[equivalent]\n"vaeadv.data.idx.x_parse_idx__mutmut_1" = { why = "x" }\n'
                  '"vaeadv.data.idx.x_gone__mutmut_9" = { why = "y" }\n')
    _, problems = ms.score(ms.read_results(RESULTS), ms.read_equivalents(eq))
    assert len(problems) == 2 and "now killed" in problems[0] and "no longer exists" in problems[1]


def test_main_fails_below_the_goal_and_passes_above(tmp_path, capsys):
    saved = tmp_path / "results.txt"
    saved.write_text(RESULTS)
    none = tmp_path / "none.toml"
    assert ms.main(["--results", str(saved), "--equivalents", str(none), "--goal", "0.5"]) == 0
    assert ms.main(["--results", str(saved), "--equivalents", str(none), "--goal", "0.9"]) == 1
    assert "below the goal 90%" in capsys.readouterr().err
