#!/bin/bash
# One `sdvk generate` shard per Slurm array task: task I of N does the prompts p with
# p mod N == I, into one shared folder, with a manifest of its own.
#
#   sbatch --array=0-7 deploy/slurm-shards.sh PROMPTS.txt OUTDIR [more generate flags]
#   sdvk score --manifest OUTDIR/manifest-*.jsonl --merged OUTDIR/manifest.jsonl   # when all are done
#
# The array must be 0..N-1 or a..a+N-1, step 1 (N = SLURM_ARRAY_TASK_COUNT). A preempted or
# requeued task, or the same array submitted again, skips the prompts it finished
# (--skip-existing). Environment: SDVK (the binary, default sdvk on PATH), SEED (default 1;
# every task must get the same one).
#SBATCH --job-name=sdvk-shards
#SBATCH --requeue
#SBATCH --output=sdvk-shard-%A_%a.log
# #SBATCH --gpus-per-task=1    (any Vulkan GPU; without one lavapipe runs on the CPUs)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: sbatch --array=0-N deploy/slurm-shards.sh PROMPTS.txt OUTDIR [generate flags]" >&2
  exit 2
fi
: "${SLURM_ARRAY_TASK_ID:?not an array task: submit with sbatch --array=0-N}"
: "${SLURM_ARRAY_TASK_COUNT:?not an array task: submit with sbatch --array=0-N}"
prompts=$1
mkdir -p "$2"
out=$(cd "$2" && pwd)  # absolute: the manifests name the files, for a merge run elsewhere
shift 2
shard=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))
exec "${SDVK:-sdvk}" generate --quiet --prompts-file "$prompts" --seed "${SEED:-1}" \
  --shard "$shard/$SLURM_ARRAY_TASK_COUNT" --skip-existing \
  --output "$out/p{prompt}-{index}.png" --manifest "$out/manifest-$shard.jsonl" "$@"
