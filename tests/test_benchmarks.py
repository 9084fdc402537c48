"""The benchmarks' own logic (their timings are not tests): what decides where a result is filed."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
bench_precision = pytest.importorskip("bench_precision")

FLAGS = "processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512bw {}\nbogomips\t: 5600\n"


@pytest.mark.parametrize("extra, native", [("", False), ("avx512_bf16", True), ("amx_bf16 amx_tile", True),
                                           ("avx512_bf16x", False)])
def test_a_cpu_has_native_bf16_only_with_a_bf16_instruction_among_its_flags(extra, native):
    assert bench_precision.native_bf16(FLAGS.format(extra)) is native


def test_a_cpuinfo_without_flags_says_nothing():
    assert bench_precision.native_bf16("processor\t: 0\nmodel name\t: some arm core\n") is None
