"""The mutation score of `make mutate`, per module, against the triage file of equivalent mutants.

Reads ``mutmut results --all true`` (run it after ``mutmut run``) and ``mutation-equivalents.toml``. A mutant is
*killed* (a test failed or it timed out), *survived*, or *equivalent* when the triage file lists it with a reason.
The score of a module is killed / (killed + survived), the equivalents left out. Exit status 1 when a module scores
below ``--goal`` or when the triage file is stale (it lists a mutant that no longer exists, or one that a test now
kills): the file must say the truth about the current code.

    python scripts/mutation_score.py [--goal 0.9] [--markdown]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
SURVIVED = {"survived", "no tests", "suspicious"}  # "no tests": no selected test reaches the mutated function
LINE = re.compile(r"^\s*(?P<name>[\w.ǁ]+): (?P<status>.+)$")


def module_of(mutant: str) -> str:
    """``vaeadv.data.idx.x_parse_idx__mutmut_3`` → ``data/idx.py``."""
    parts = mutant.split(".")
    return "/".join(parts[1:-1]) + ".py"


def read_results(text: str) -> dict[str, str]:
    return {m["name"]: m["status"].strip() for m in map(LINE.match, text.splitlines()) if m}


def read_equivalents(path: Path) -> dict[str, str]:
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    return {name: entry["why"] for name, entry in data.get("equivalent", {}).items()}


def score(results: dict[str, str], equivalents: dict[str, str]) -> tuple[dict[str, Counter], list[str]]:
    per_module: dict[str, Counter] = defaultdict(Counter)
    problems = []
    for name, status in results.items():
        kind = ("killed" if status in KILLED else "equivalent" if name in equivalents and status in SURVIVED
                else "survived" if status in SURVIVED else "unchecked")
        per_module[module_of(name)][kind] += 1
    for name in equivalents:
        if name not in results:
            problems.append(f"stale: {name} is listed as equivalent but no longer exists")
        elif results[name] not in SURVIVED:
            problems.append(f"stale: {name} is listed as equivalent but is now {results[name]}")
    return per_module, problems


def table(per_module: dict[str, Counter], markdown: bool) -> str:
    rows = [("module", "mutants", "killed", "survived", "equivalent", "unchecked", "score")]
    total = Counter()
    for module in sorted(per_module):
        c = per_module[module]
        total.update(c)
        rows.append(_row(module, c))
    rows.append(_row("all", total))
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    return "\n".join("".join(f"{v:<24}" if i == 0 else f"{v:>11}" for i, v in enumerate(r)) for r in rows)


def _row(module: str, c: Counter) -> tuple[str, ...]:
    tested = c["killed"] + c["survived"]
    pct = f"{100 * c['killed'] / tested:.1f}%" if tested else "-"
    return (module, str(sum(c.values())), str(c["killed"]), str(c["survived"]), str(c["equivalent"]),
            str(c["unchecked"]), pct)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--goal", type=float, default=0.9, help="least score per module (default: 0.9)")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (for docs/testing.md)")
    ap.add_argument("--results", type=Path, help="a saved `mutmut results --all true` output instead of running it")
    ap.add_argument("--equivalents", type=Path, default=ROOT / "mutation-equivalents.toml")
    args = ap.parse_args(argv)
    text = (args.results.read_text() if args.results else subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True,
        check=True).stdout)
    per_module, problems = score(read_results(text), read_equivalents(args.equivalents))
    print(table(per_module, args.markdown))
    for module, c in sorted(per_module.items()):
        tested = c["killed"] + c["survived"]
        if c["unchecked"]:
            problems.append(f"{module}: {c['unchecked']} mutants not checked (run `mutmut run` to the end)")
        if tested and c["killed"] / tested < args.goal:
            problems.append(f"{module}: score {c['killed'] / tested:.1%} is below the goal {args.goal:.0%}")
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
