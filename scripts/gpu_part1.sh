#!/usr/bin/env bash
# All of Part 1 at the assignment's settings on one GPU (the report's `full` scale: every VAE at 80 epochs), the
# VAEs trained CONCURRENT at a time with the improved-recipe z=20 run beside them, then the concurrency benchmark.
# Smoke-tested on the CPU (tests/test_gpu_scripts.py). Everything worth keeping is packed into a few files in $OUT:
#   summary.json (per piece: seconds and exit status; the GPU; the concurrency)   vae_concurrent.json (benchmark)
#   report.tar.gz (results, figures, every log)   best-checkpoints.tar.gz.part-* (parts of 15 MiB)
# Run from the repository root; a rerun in the same place resumes every run from its last checkpoint.
#   OUT=dir [DATA=$VAEADV_DATA] [SCALE=full] [CONCURRENT=8] [PY=python3] [COMPILE=1] [BENCH=1] bash scripts/gpu_part1.sh
# The compression section (bits-back ANS, CPU-bound, needs the optional constriction package) is left out: run it
# afterwards from the z=20 checkpoint (`vaeadv report --reuse`).
# DATA is a data folder holding mnist/, or shards of one made by `python -m tools.shards pack` (checked and decoded
# into $WORK/data first).
set -uo pipefail
: "${OUT:?set OUT to the output folder}"
DATA=${DATA:-${VAEADV_DATA:-.data/shards}} SCALE=${SCALE:-full} CONCURRENT=${CONCURRENT:-8} PY=${PY:-python3}
WORK=${WORK:-gpu_work} COMPILE=${COMPILE:-1} BENCH=${BENCH:-1}  # BENCH_FLAGS: more benchmark flags (--compile)
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" VAEADV_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK/logs"
if [ -f "$DATA/manifest.json" ]; then
  "$PY" -m tools.shards unpack "$DATA" "$WORK/data" || exit 1
  DATA=$WORK/data
fi
export VAEADV_DATA="$(cd "$DATA" && pwd)"
rm -f "$WORK"/logs/*.status
compile=()
[ "$COMPILE" = 1 ] && compile=(--compile)

piece() {  # piece NAME COMMAND...: run it, log to $WORK/logs/NAME.log with its seconds and exit status beside
  local name=$1 start=$SECONDS
  shift
  "$@" >"$WORK/logs/$name.log" 2>&1
  echo "$((SECONDS - start)) $?" >"$WORK/logs/$name.status"
}

epochs=$($PY -c "from vaeadv.report.scales import SCALES; print(SCALES['$SCALE'].vae_epochs)")
every=$($PY -c "from vaeadv.report.scales import SCALES; print(SCALES['$SCALE'].vae_sample_every)")
subset=$($PY -c "from vaeadv.report.scales import SCALES; print(SCALES['$SCALE'].vae_train_subset or '')")
# the improved-recipe run beside the report's VAEs (the full scale has 7 distinct ones: one slot of 8 is free)
piece improved "$PY" -m vaeadv vae sweep --recipe improved --z-dim 20 --epochs "$epochs" --sample-every "$every" \
  --log-dir "$WORK/improved" --no-download ${subset:+--train-subset "$subset"} "${compile[@]}" &
piece report "$PY" -m vaeadv report --scale "$SCALE" --out "$WORK/report" --no-progress --no-download \
  --only vae_main vae_manifold q12_prior_vs_importance beta_sweep --concurrent "$CONCURRENT" \
  "${compile[@]}"
wait
if [ "$BENCH" = 1 ]; then  # eager by default: the kernel-launch-bound case that concurrency is for
  piece bench bash -c "cd benchmarks && '$PY' bench_vae_concurrent.py --device cuda --runs 1 4 8 ${BENCH_FLAGS:-} \
    && cp results/vae_concurrent*_cuda.json '$OUT/vae_concurrent.json'"
fi

# results, figures and logs without checkpoints; the best checkpoints apart (3.3 MB each), in parts of 15 MiB
tar -czf "$OUT/report.tar.gz" -C "$WORK" --exclude='*.ckpt' --exclude='tensorboard' --exclude='csv*' \
  --exclude='.lock' report improved logs
(cd "$WORK" && find report improved -name 'best-*.ckpt' -print0 | tar -czf - --null -T - \
  | split -b 15m - "$OUT/best-checkpoints.tar.gz.part-")
for log in "$WORK"/logs/*.log; do echo "== $log"; tail -n 5 "$log"; done
"$PY" - "$OUT" "$WORK" "$SCALE" "$CONCURRENT" "$COMPILE" <<'PYTHON'
import json, sys
from pathlib import Path
from vaeadv.runinfo import hardware
out, work, scale, concurrent, compiled = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
pieces = {}
for f in sorted((work / "logs").glob("*.status")):
    took, code = f.read_text().split()
    pieces[f.stem] = {"seconds": int(took), "exit": int(code)}
summary = {"scale": scale, "concurrent": concurrent, "compile": compiled == "1", "hardware": hardware(),
           "pieces": pieces}
Path(out, "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
sys.exit(0 if pieces and all(p["exit"] == 0 for p in pieces.values()) else 1)
PYTHON
