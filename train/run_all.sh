#!/bin/sh
# Trains the whole demo model in the recommended order, resuming every stage that already has
# a checkpoint: tokenizer -> VAE -> latent cache -> CLIP -> CLIP position fine-tune -> UNet -> export
# to models/.
# Each stage saves every --save-every steps and on SIGTERM; a stage stopped by a signal exits
# 143, which stops this script too (set -e), so `kill -TERM <python pid>` pauses the chain and
# running this script again continues it.
#
#   nohup nice -n 19 sh train/run_all.sh > runs/run_all.log 2>&1 &
#
# Step counts and threads come from the environment (defaults below). Run from the
# repository root.
set -eu
RUNS=${RUNS:-runs}
PY=${PY:-/usr/bin/python3}
THREADS=${THREADS:-2}
VAE_STEPS=${VAE_STEPS:-2500}
CLIP_STEPS=${CLIP_STEPS:-1500}
TWIN_STEPS=${TWIN_STEPS:-4500}
UNET_STEPS=${UNET_STEPS:-20000}
LATENTS=${LATENTS:-20000}

resume() { if [ -f "$1/ckpt.safetensors" ]; then echo --resume; fi; }
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

mkdir -p "$RUNS"
# Stages trained in earlier sessions are committed under train/checkpoints/ (pickle-free
# ckpt.safetensors): a fresh clone resumes from them instead of starting over.
for stage in tokenizer vae clip clip_twins unet; do
  if [ -d "train/checkpoints/$stage" ] && [ ! -d "$RUNS/$stage" ]; then
    stamp "seeding $RUNS/$stage from train/checkpoints/$stage"
    cp -r "train/checkpoints/$stage" "$RUNS/$stage"
  fi
done
if [ ! -f "$RUNS/tokenizer/spiece.model" ]; then
  stamp tokenizer
  $PY train/train_tokenizer.py --out "$RUNS/tokenizer"
fi

stamp vae
$PY train/train_vae.py --run-dir "$RUNS/vae" --steps "$VAE_STEPS" --batch 16 --lr 1e-3 --widths 16,32,32 \
  --groups 8 --crop 32 --threads "$THREADS" $(resume "$RUNS/vae")

if [ ! -f "$RUNS/latents/meta.json" ]; then
  stamp latents
  $PY train/cache_latents.py --vae "$RUNS/vae" --out "$RUNS/latents" --count "$LATENTS" --threads "$THREADS"
fi

stamp clip
$PY train/train_clip.py --run-dir "$RUNS/clip" --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$CLIP_STEPS" \
  --batch 32 --threads "$THREADS" $(resume "$RUNS/clip")

# The scorer's position fine-tune: vision tower and projections only, on scenes paired with
# moved twins; the text tower (what the UNet reads) stays bit-identical. export.py takes the
# scorer from clip_twins.
stamp clip_twins
$PY train/train_clip.py --run-dir "$RUNS/clip_twins" --init-from "$RUNS/clip" --tokenizer "$RUNS/tokenizer/spiece.model" \
  --steps "$TWIN_STEPS" --batch 32 --threads "$THREADS" --position-twins --freeze-text-tower $(resume "$RUNS/clip_twins")

stamp unet
$PY train/train_unet.py --run-dir "$RUNS/unet" --latents "$RUNS/latents" --clip "$RUNS/clip" \
  --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$UNET_STEPS" --threads "$THREADS" --save-every 100 \
  --plain-noise-until 11710 \
  $(resume "$RUNS/unet")

stamp export
$PY train/export.py --runs "$RUNS" --out models
stamp done
