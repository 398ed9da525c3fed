#!/usr/bin/env bash
# SD 1.5-sized UNet call and VAE decode: sdvk (this build, the default device) against PyTorch on
# the CPU (float32, all cores), one after the other in one run, and their ratio.
#   bash scripts/bench-vs-pytorch.sh [--size 256|512] [--precision fp16|fp32] [--runs N] [--rounds R]
# R rounds (default 2) each run sdvk and then PyTorch; each side's figure is its best over all
# rounds, so a slow spell of a shared machine does not land on one side only.
# Needs a build (build/sdvk) and Debian's python3-torch + libopenblas0-pthread:
#   apt-get install python3-torch libopenblas0-pthread
# Run it on a quiet machine: both sides use every core.
set -euo pipefail
cd "$(dirname "$0")/.."
size=256 precision=fp16 runs=2 rounds=2
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    *) echo "bench-vs-pytorch: unknown argument $1" >&2; exit 2 ;;
  esac
done
sdvk_log=$(mktemp) torch_log=$(mktemp)
trap 'rm -f "$sdvk_log" "$torch_log"' EXIT
for ((r = 1; r <= rounds; r++)); do
  echo "== round $r of $rounds"
  ./build/sdvk bench sd15 --size "$size" --precision "$precision" --runs "$runs" --no-full | tee -a "$sdvk_log"
  /usr/bin/python3 bench/torch_sd15.py --size "$size" --runs "$runs" | tee -a "$torch_log"
done
# sdvk: the best steady-state UNet call and (tiled) decode; PyTorch: best of its runs.
best() { sed -n "$1" "$2" | sort -g | head -1; }
sdvk_unet=$(best 's/.*best \([0-9.]*\) s = .*/\1/p' "$sdvk_log")
sdvk_vae=$(best 's/^vae: best \([0-9.]*\) s per decode$/\1/p' "$sdvk_log")
torch_unet=$(best 's/^pytorch unet call .* \([0-9.]*\) s$/\1/p' "$torch_log")
torch_vae=$(best 's/^pytorch vae decode .* \([0-9.]*\) s$/\1/p' "$torch_log")
awk -v su="$sdvk_unet" -v tu="$torch_unet" -v sv="$sdvk_vae" -v tv="$torch_vae" -v size="$size" -v p="$precision" 'BEGIN {
  printf "\n%-32s %10s %10s %12s\n", "SD 1.5 size " size "x" size ", best", "sdvk " p, "pytorch", "sdvk/pytorch"
  printf "%-32s %9.2fs %9.2fs %11.2fx\n", "UNet call (CFG batch 2)", su, tu, su / tu
  printf "%-32s %9.2fs %9.2fs %11.2fx\n", "VAE decode", sv, tv, sv / tv
}'
