#!/usr/bin/env bash
# Fast adversarial training at Wong et al.'s batch (recipe fast-at-128, ε = 8/255 in pixels, crop + flip, guard
# on), the method chosen on held-out training images, never on test images:
#   1. a pilot per method (METHODS, 5 epochs each, scored on the 2,000 held-out training images only);
#   2. the main run of the method whose pilot keeps the most under the guard's PGD-10 (a pilot whose guard fired
#      is out), EPOCHS epochs, no test attack;
#   3. the shipped vaeadv-fast-at under the same PGD-10 on the same held-out images, and the two side by side,
#      with the export command when the new run is better (then: `robust attack` for the strong evaluation).
# Every step resumes (re-run the script after an interruption); a finished step is not run again.
#   [RUNS=robust_logs/fast_at_128] [METHODS="fgsm-rs n-fgsm"] [PILOT_EPOCHS=5] [EPOCHS=15] [PRECISION=] \
#     [THREADS=2] [EXTRA=] [HOLDOUT_LIMIT=] bash scripts/fast_at.sh
# PRECISION: the recipe's bf16-mixed unless set (32-true on a CPU without native bf16, where bf16 is emulated
# and slower: docs/benchmarks.md). EXTRA: more `robust train` flags, HOLDOUT_LIMIT: the shipped file scored on the
# first N held-out images only (smoke tests: EXTRA="--train-subset 2600 --width 8 ..." HOLDOUT_LIMIT=16).
set -euo pipefail
RUNS=${RUNS:-robust_logs/fast_at_128} METHODS=${METHODS:-fgsm-rs n-fgsm} PILOT_EPOCHS=${PILOT_EPOCHS:-5}
EPOCHS=${EPOCHS:-15} PRECISION=${PRECISION:-} THREADS=${THREADS:-2} EXTRA=${EXTRA:-} PY=${PY:-python3}
EPS=0.0313725 ALPHA=0.0078431  # 8/255 and the guard's α = ε/4
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
train() {  # train RUN_NAME DEFENSE EPOCHS FLAGS...: one resumable run, skipped once it has its results
  local name=$1 defense=$2 epochs=$3
  shift 3
  [ -f "$RUNS/$name/$defense/results.json" ] && return 0
  echo "== $name: $defense, $epochs epochs, $(date -u +%FT%TZ)"
  # shellcheck disable=SC2086  # EXTRA is a word list on purpose
  "$PY" -m vaeadv robust train --defense "$defense" --recipe fast-at-128 --epochs "$epochs" --augment \
    --units pixel --fgsm-eps $EPS --pgd-eps $EPS --pgd-alpha $ALPHA --overfit-guard --seed 0 \
    --threads "$THREADS" --resume --no-progress --log-dir "$RUNS" --run-name "$name" \
    ${PRECISION:+--precision $PRECISION} "$@" $EXTRA
}
for method in $METHODS; do
  train "pilot_$method" "$method" "$PILOT_EPOCHS" --holdout-only
done
chosen=$("$PY" - "$RUNS" $METHODS <<'EOF'
import json, sys
from pathlib import Path
runs, methods = Path(sys.argv[1]), sys.argv[2:]
scores = {}
for m in methods:
    r = json.loads((runs / f"pilot_{m}" / m / "results.json").read_text())
    if not r["overfit_guard"]["fired"]:
        scores[m] = r["holdout_attack"]["accuracy"]
    print(f"pilot {m}: hold-out clean {r['clean_eval']['holdout']['accuracy']:.4f}, guard's PGD "
          f"{r['holdout_attack']['accuracy']:.4f}, guard fired: {r['overfit_guard']['fired']}", file=sys.stderr)
if not scores:
    sys.exit("every pilot's guard fired: no method to choose")
print(max(scores, key=scores.get))
EOF
)
echo "== chosen on the hold-out: $chosen"
train main "$chosen" "$EPOCHS" --no-attack
shipped=$RUNS/shipped_holdout
if [ ! -f "$shipped/attack_results.json" ]; then
  "$PY" -m vaeadv robust attack vaeadv-fast-at --attack pgd --random-start --steps 10 --alpha $ALPHA --eps $EPS \
    --units pixel --eval-set holdout --holdout-seed 0 --holdout-size 2000 --out "$shipped" \
    ${HOLDOUT_LIMIT:+--limit $HOLDOUT_LIMIT} >/dev/null
fi
"$PY" - "$RUNS/main/$chosen" "$shipped/attack_results.json" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
new = json.loads((run / "results.json").read_text())["holdout_attack"]
old = next(v for k, v in json.loads(Path(sys.argv[2]).read_text())["intervals"].items() if k != "clean")
print(f"guard's PGD-10 on the hold-out: new {new['accuracy']:.4f} [{new['ci95_low']:.4f}, {new['ci95_high']:.4f}], "
      f"shipped {old['accuracy']:.4f} [{old['ci95_low']:.4f}, {old['ci95_high']:.4f}]")
best = sorted((run / "checkpoints").glob("best-*.ckpt"))
print(f"better: vaeadv robust export {best[-1]} --name vaeadv-fast-at" if new["accuracy"] > old["accuracy"]
      else "not better: the shipped file stays")
EOF
