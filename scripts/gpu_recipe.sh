#!/usr/bin/env bash
# The full-width course ResNet18 trained from scratch with vaeadv's recipe on one GPU (data resident there as
# uint8, batch augmentation there, bf16), scored once in fp32 on the 1,000 exact-pixel test images with its Wilson
# interval; then the training-throughput benchmark (the recipe against the template's pipeline, FGSM/PGD-10 epochs
# against a standard one). Smoke-tested on the CPU (tests/test_gpu_scripts.py).
#   OUT=dir [DATA=$VAEADV_DATA] [EPOCHS=18] [BATCH=512] [LR=0.4] [COMPILE=1] [PY=python3] [BENCH=1] \
#     bash scripts/gpu_recipe.sh
# DATA is a data folder holding cifar10/, or shards of one made by `python -m tools.shards pack` (every part is
# checked and decoded into $WORK/data first).
# Outputs (3 files): summary.json (accuracy with its interval, training and wall seconds, the benchmark),
# train.log and bench.log.
set -uo pipefail
: "${OUT:?set OUT to the output folder}"
DATA=${DATA:-${VAEADV_DATA:-.data/cifar-shards}} EPOCHS=${EPOCHS:-18} BATCH=${BATCH:-512} LR=${LR:-0.4} PY=${PY:-python3}
WORK=${WORK:-gpu_work} BENCH=${BENCH:-1} SUBSET=${SUBSET:-}  # SUBSET: training images (smoke tests only)
COMPILE=${COMPILE:-1}  # torch.compile the network; its compile time is reported apart (compile_seconds)
EXTRA=${EXTRA:-}  # more `robust train` flags (smoke tests: --width 8 --limit-val-batches 2 ...)
BENCH_FLAGS=${BENCH_FLAGS:---device cuda --steps 40 --skip 10 --workers 4 --train-subset 50000}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" VAEADV_OFFLINE=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK"
start=$SECONDS
if [ -f "$DATA/manifest.json" ]; then
  "$PY" -m tools.shards unpack "$DATA" "$WORK/data" >"$OUT/train.log" 2>&1 || { cat "$OUT/train.log"; exit 1; }
  DATA=$WORK/data
fi
export VAEADV_DATA="$(cd "$DATA" && pwd)"
unshard_s=$((SECONDS - start))

run=gpu_e${EPOCHS}_b${BATCH}
# shellcheck disable=SC2086  # SUBSET and EXTRA are word lists on purpose
"$PY" -m vaeadv robust train --defense standard --recipe pretrain --epochs "$EPOCHS" --batch-size "$BATCH" \
  --lr "$LR" --augment --no-attack --seed 0 --no-progress --no-download --log-dir "$WORK/robust_logs" \
  --run-name "$run" --resume ${SUBSET:+--train-subset $SUBSET} $([ "$COMPILE" = 1 ] && echo --compile) $EXTRA \
  >>"$OUT/train.log" 2>&1
train_exit=$?
bench_exit=0
if [ "$BENCH" = 1 ]; then
  # shellcheck disable=SC2086
  (cd benchmarks && "$PY" bench_train_throughput.py $BENCH_FLAGS) >"$OUT/bench.log" 2>&1
  bench_exit=$?
fi
"$PY" - "$OUT" "$WORK/robust_logs/$run/standard/results.json" "$train_exit" "$bench_exit" "$unshard_s" <<'PYTHON'
import json, sys
from pathlib import Path
out, results, train_exit, bench_exit, unshard_s = sys.argv[1], Path(sys.argv[2]), *map(int, sys.argv[3:])
summary = {"train_exit": train_exit, "bench_exit": bench_exit, "unshard_seconds": unshard_s}
if results.is_file():
    r = json.loads(results.read_text())
    summary.update({k: r.get(k) for k in ("train_seconds", "seconds_per_epoch", "epochs", "train_images",
                                          "clean_eval", "hardware", "versions")})
    summary["compile_seconds"] = r.get("first_step_excess_seconds")  # inside train_seconds
    summary["config"] = {k: r["config"].get(k) for k in ("recipe", "epochs", "batch_size", "lr", "augment", "seed",
                                                         "compile")}
bench = sorted(Path("benchmarks/results").glob("train_throughput*_cuda.json")) if bench_exit == 0 else []
if bench:
    summary["benchmark"] = json.loads(bench[-1].read_text())
Path(out, "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
sys.exit(0 if train_exit == 0 and bench_exit == 0 else 1)
PYTHON
