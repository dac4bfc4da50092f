#!/usr/bin/env bash
# A sweep as a plain shell loop: one `rnninit train` per point, then one table of all of them.
#
#   examples/shell_sweep.sh                      # xavier and uniform at H = 64, 128, 256, 2 seeds
#   INITS="he orthogonal" SIZES="32 512" examples/shell_sweep.sh
#
# Every run is an ordinary run folder under $OUT; `rnninit summarize` finds them all, shows the
# keys that differ between them (init, model.hidden_size, seed) and averages over seeds.
# Settings (environment variables):
#   RNNINIT  the command (default: rnninit; e.g. "python -m rnninit" from a checkout)
#   CONFIG   the base config (default: configs/char_xavier.yaml beside this folder)
#   OUT      where the run folders go (default: runs/shell_sweep)
#   INITS, SIZES, SEEDS   the values looped over
#   STEPS    train.steps of every run (default: 300)
#   EXTRA    more KEY=VALUE overrides for every run (e.g. tiny sizes for a quick check)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RNNINIT="${RNNINIT:-rnninit}"
CONFIG="${CONFIG:-$here/../configs/char_xavier.yaml}"
OUT="${OUT:-runs/shell_sweep}"
INITS="${INITS:-xavier uniform}"
SIZES="${SIZES:-64 128 256}"
SEEDS="${SEEDS:-0 1}"
STEPS="${STEPS:-300}"
EXTRA="${EXTRA:-}"

for init in $INITS; do
  for h in $SIZES; do
    for seed in $SEEDS; do
      echo "== init=$init model.hidden_size=$h seed=$seed"
      # shellcheck disable=SC2086  # RNNINIT and EXTRA are word lists on purpose
      $RNNINIT train --config "$CONFIG" --no-tables \
        init="$init" model.hidden_size="$h" seed="$seed" train.steps="$STEPS" \
        log.runs_dir="$OUT" $EXTRA
    done
  done
done

# shellcheck disable=SC2086
$RNNINIT summarize "$OUT" --by init,model.hidden_size --csv "$OUT/summary.csv"
