"""Short answers to every question and 'food for thought' of the assignment, in our own words, each
pointing at the number or figure of this report that supports it. Numbers are filled from the results;
where an experiment is missing, the answer says so instead of quoting a number. Part 1's answers are in
``answers_vae``, Part 2's in ``answers_robust``."""

from __future__ import annotations

from vaeadv.report.answers_robust import PART2, masking_gaps
from vaeadv.report.answers_vae import PART1
from vaeadv.report.quoting import Answer, Results

ANSWERS = PART1 + PART2

__all__ = ["ANSWERS", "answers", "masking_gaps"]


def answers(results: Results) -> list[Answer]:
    """Every answer, in the assignment's order."""
    return [answer(results) for answer in ANSWERS]
