#!/usr/bin/env bash
# A sweep as a SLURM job array: each array task runs its own 1/N of the runs.
#
#   sbatch examples/slurm_array.sh                                   # 16 tasks, init_vs_width
#   sbatch --array=0-31 examples/slurm_array.sh                      # any number of tasks
#   SWEEP=configs/sweeps/mine.yaml sbatch examples/slurm_array.sh
#
# rnninit reads the shard from SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT (ids may start at
# 0 or 1, or step): the shards are balanced, fixed by the sweep file alone, and never share a
# run, so no task needs to talk to another. Run folders are named from their configs, so the
# runs folder must be on a filesystem every node sees. --resume makes a requeued or preempted
# task skip what it finished and redo the rest; SLURM's SIGTERM at the time limit stops each
# run after its current step with a checkpoint.
# When every task is done:
#   rnninit summarize runs/sweeps/init_vs_width --by init,model.hidden_size --plot model.hidden_size
#
#SBATCH --job-name=rnninit-sweep
#SBATCH --array=0-15
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

RNNINIT="${RNNINIT:-rnninit}"
SWEEP="${SWEEP:-configs/sweeps/init_vs_width.yaml}"

# one worker process per CPU SLURM gave this task; one BLAS thread each (the default)
# shellcheck disable=SC2086  # RNNINIT is a word list on purpose
$RNNINIT sweep "$SWEEP" --jobs "${SLURM_CPUS_PER_TASK:-1}" --resume "$@"
