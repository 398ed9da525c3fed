#!/bin/sh
# Trains the whole demo model in the order it was made, resuming every stage that already has
# a checkpoint: tokenizer -> VAE (vae_base, then sharpened into vae) -> latent caches -> CLIP ->
# CLIP position fine-tune -> binding fine-tune -> count fine-tunes -> attribute fine-tunes, the
# last two with shapes in colours off the palette (the scorer) -> UNet
# (unet_base on vae_base's latents, fine-tuned into unet on vae's, then trained together with
# the text tower into unet_text, then on batches half of two different objects into unet_two,
# 70% into unet_pairs, 40% into unet_mix, then on to v-prediction (unet_v), zero terminal SNR
# (unet_zsnr) and the binding loss at the noisiest steps (unet_zbind, then 2400 steps more:
# unet_zbind2)) -> export of tokenizer, vae, clip_attr5, and unet_zbind2 with its text
# encoder, to models/.
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
BIND_STEPS=${BIND_STEPS:-7500}
COUNT_STEPS=${COUNT_STEPS:-10000}
COUNT2_STEPS=${COUNT2_STEPS:-12500}
ATTR_STEPS=${ATTR_STEPS:-14113}
ATTR2_STEPS=${ATTR2_STEPS:-18100}
ATTR3_STEPS=${ATTR3_STEPS:-20100}
ATTR4_STEPS=${ATTR4_STEPS:-23100}
ATTR5_STEPS=${ATTR5_STEPS:-26100}
UNET_BASE_STEPS=${UNET_BASE_STEPS:-20000}
UNET_STEPS=${UNET_STEPS:-7763}
UNET_TEXT_STEPS=${UNET_TEXT_STEPS:-4800}
UNET_TWO_STEPS=${UNET_TWO_STEPS:-4500}
UNET_PAIRS_STEPS=${UNET_PAIRS_STEPS:-2000}
UNET_MIX_STEPS=${UNET_MIX_STEPS:-1500}
UNET_V_STEPS=${UNET_V_STEPS:-3000}
UNET_ZSNR_STEPS=${UNET_ZSNR_STEPS:-3000}
UNET_ZBIND_STEPS=${UNET_ZBIND_STEPS:-2400}
UNET_ZBIND2_STEPS=${UNET_ZBIND2_STEPS:-2400}
LATENTS=${LATENTS:-20000}

resume() { if [ -f "$1/ckpt.safetensors" ]; then echo --resume; fi; }
# The step a run folder's checkpoint is at (0 without one).
step_of() {
  $PY -c 'import sys; sys.path.insert(0, "train"); import common
print(common.checkpoint_state(sys.argv[1])["step"])' "$1" 2>/dev/null || echo 0
}
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }

mkdir -p "$RUNS"
# Stages trained in earlier sessions are committed under train/checkpoints/ (pickle-free
# ckpt.safetensors): a fresh clone resumes from them instead of starting over.
for stage in tokenizer vae_base vae clip clip_twins clip_bind clip_count clip_count2 clip_attr clip_attr2 clip_attr3 clip_attr4 clip_attr5 unet_base unet unet_text unet_two unet_mix unet_zbind unet_zbind2; do
  if [ -d "train/checkpoints/$stage" ] && [ ! -d "$RUNS/$stage" ]; then
    stamp "seeding $RUNS/$stage from train/checkpoints/$stage"
    cp -r "train/checkpoints/$stage" "$RUNS/$stage"
  fi
done
if [ ! -f "$RUNS/tokenizer/spiece.model" ]; then
  stamp tokenizer
  $PY train/train_tokenizer.py --out "$RUNS/tokenizer"
fi

stamp vae_base
$PY train/train_vae.py --run-dir "$RUNS/vae_base" --steps "$VAE_STEPS" --batch 16 --lr 1e-3 --widths 16,32,32 \
  --groups 8 --crop 32 --threads "$THREADS" $(resume "$RUNS/vae_base")

# The sharper VAE: vae_base trained on with edge-weighted loss, crops around objects and four
# cosine learning-rate cycles (train/README.md). A finished cycle returns at once.
stamp vae
if [ ! -f "$RUNS/vae/ckpt.safetensors" ]; then cp -r "$RUNS/vae_base" "$RUNS/vae"; fi
V="--run-dir $RUNS/vae --batch 16 --widths 16,32,32 --groups 8 --crop 32 --edge-weight 6 --object-crops 0.75
   --sharpen-from 2500 --threads $THREADS --resume"
$PY train/train_vae.py $V --lr 1e-3 --lr-decay-from 5300 --steps 6200
$PY train/train_vae.py $V --lr 5e-4 --lr-decay-from 6200 --steps 9200
$PY train/train_vae.py $V --lr 3e-4 --lr-decay-from 9200 --steps 13200
$PY train/train_vae.py $V --lr 2e-4 --lr-decay-from 13200 --steps 16000

# A latent cache is made only while a UNet stage that trains on it is unfinished: with the
# committed checkpoints (unet_base, unet_text, unet_two, unet_mix and unet_zbind2 finished)
# none is.
cache_latents() {  # VAE_RUN OUT
  if [ ! -f "$2/meta.json" ]; then
    stamp "latents of $1"
    $PY train/cache_latents.py --vae "$RUNS/$1" --out "$2" --count "$LATENTS" --threads "$THREADS"
  fi
}
if [ "$(step_of "$RUNS/unet_base")" -lt "$UNET_BASE_STEPS" ]; then cache_latents vae_base "$RUNS/latents_base"; fi
if [ "$(step_of "$RUNS/unet_text")" -lt "$UNET_TEXT_STEPS" ] || [ "$(step_of "$RUNS/unet_zbind2")" -lt "$UNET_ZBIND2_STEPS" ]; then
  cache_latents vae "$RUNS/latents"
fi

stamp clip
$PY train/train_clip.py --run-dir "$RUNS/clip" --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$CLIP_STEPS" \
  --batch 32 --threads "$THREADS" $(resume "$RUNS/clip")

# The scorer's position fine-tune: vision tower and projections only, on scenes paired with
# moved twins; the text tower (what the UNet reads) stays bit-identical.
stamp clip_twins
$PY train/train_clip.py --run-dir "$RUNS/clip_twins" --init-from "$RUNS/clip" --tokenizer "$RUNS/tokenizer/spiece.model" \
  --steps "$TWIN_STEPS" --batch 32 --threads "$THREADS" --position-twins --freeze-text-tower $(resume "$RUNS/clip_twins")

# The scorer of 2026-12-05/06: clip_twins trained on with moved and swapped twins, its text tower
# training too (the exported UNet has its own text encoder), in two runs: 5500 steps, then on
# to 7500 (the cosine spans each run's --steps). A finished run returns at once.
stamp clip_bind
# C: the flags clip_bind and the count fine-tunes after it share.
C="--tokenizer $RUNS/tokenizer/spiece.model --batch 32 --lr 2e-4 --threads $THREADS --position-twins --swap-twins"
B="--run-dir $RUNS/clip_bind --init-from $RUNS/clip_twins $C"
$PY train/train_clip.py $B --steps 5500 $(resume "$RUNS/clip_bind")
$PY train/train_clip.py $B --steps "$BIND_STEPS" --resume

# clip_bind trained on with counted twins too (one object more or fewer), then with altered
# twins as well (clip_count2; train/README.md, twelfth round).
stamp clip_count
$PY train/train_clip.py $C --run-dir "$RUNS/clip_count" --init-from "$RUNS/clip_bind" --count-twins 0.4 \
  --steps "$COUNT_STEPS" $(resume "$RUNS/clip_count")
stamp clip_count2
$PY train/train_clip.py $C --run-dir "$RUNS/clip_count2" --init-from "$RUNS/clip_count" --alter-twins 0.25 \
  --count-twins 0.35 --steps "$COUNT2_STEPS" $(resume "$RUNS/clip_count2")
# The exported scorer: clip_count2 with the supervised attribute loss that teaches its vision
# tower shape (thirteenth round): a run planned to 19000 steps and stopped at 14113 (clip_attr),
# then a fresh schedule at twice the rate and four times the weight (clip_attr2); then
# (fourteenth round) with 16, then 32, extra images a step of shapes in colours off the
# palette, for the attribute loss only (clip_attr3, clip_attr4), and (fifteenth round) 3000
# steps more of the same (clip_attr5).
A="$C --alter-twins 0.25 --count-twins 0.35"
stamp clip_attr
$PY train/train_clip.py $A --run-dir "$RUNS/clip_attr" --init-from "$RUNS/clip_count2" --lr 5e-4 --attribute-loss 0.5 \
  --steps 19000 --stop-at "$ATTR_STEPS" $(resume "$RUNS/clip_attr")
stamp clip_attr2
$PY train/train_clip.py $A --run-dir "$RUNS/clip_attr2" --init-from "$RUNS/clip_attr" --lr 1e-3 --attribute-loss 2 \
  --steps "$ATTR2_STEPS" $(resume "$RUNS/clip_attr2")
stamp clip_attr3
$PY train/train_clip.py $A --run-dir "$RUNS/clip_attr3" --init-from "$RUNS/clip_attr2" --lr 5e-4 --attribute-loss 2 \
  --off-palette 16 --steps "$ATTR3_STEPS" $(resume "$RUNS/clip_attr3")
stamp clip_attr4
$PY train/train_clip.py $A --run-dir "$RUNS/clip_attr4" --init-from "$RUNS/clip_attr3" --lr 5e-4 --attribute-loss 2 \
  --off-palette 32 --steps "$ATTR4_STEPS" $(resume "$RUNS/clip_attr4")
stamp clip_attr5
$PY train/train_clip.py $A --run-dir "$RUNS/clip_attr5" --init-from "$RUNS/clip_attr4" --lr 5e-4 --attribute-loss 2 \
  --off-palette 32 --steps "$ATTR5_STEPS" $(resume "$RUNS/clip_attr5")

# The first UNet, on vae_base's latents: plain noise, then offset + pyramid noise from step 11710.
if [ "$(step_of "$RUNS/unet_base")" -lt "$UNET_BASE_STEPS" ]; then
  stamp unet_base
  $PY train/train_unet.py --run-dir "$RUNS/unet_base" --latents "$RUNS/latents_base" --clip "$RUNS/clip" \
    --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$UNET_BASE_STEPS" --threads "$THREADS" --save-every 100 \
    --plain-noise-until 11710 $(resume "$RUNS/unet_base")
fi

# unet_base's EMA weights trained on in the sharper VAE's latent space (constant learning
# rate), then, from its EMA, trained together with the text tower (unet_text: the exported
# UNet and text encoder). The fine-tune is only needed while unet_text is unfinished.
if [ "$(step_of "$RUNS/unet_text")" -lt "$UNET_TEXT_STEPS" ]; then
  stamp unet
  $PY train/train_unet.py --run-dir "$RUNS/unet" --latents "$RUNS/latents" --clip "$RUNS/clip" \
    --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$UNET_STEPS" --threads "$THREADS" --save-every 100 \
    --init-from "$RUNS/unet_base" $(resume "$RUNS/unet")
  stamp unet_text
  $PY train/train_unet.py --run-dir "$RUNS/unet_text" --latents "$RUNS/latents" --clip "$RUNS/clip" \
    --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$UNET_TEXT_STEPS" --lr-decay-from 3000 \
    --train-text-encoder --threads "$THREADS" --save-every 200 --init-from "$RUNS/unet" $(resume "$RUNS/unet_text")
fi

# unet_text trained on with half of each batch drawn from scenes of two different objects (the
# model drew one colour or shape twice), the text tower still training; then 70% of each batch
# (unet_pairs); then 40% (unet_mix); then, at 40%, v-prediction (unet_v), zero terminal SNR
# (unet_zsnr), and the binding loss with half of each batch at t >= 600 (unet_zbind; twice as
# long: unet_zbind2, the exported UNet and text encoder; train/README.md, tenth and eleventh
# rounds).
unfinished() { [ "$(step_of "$RUNS/$1")" -lt "$2" ]; }  # RUN STEPS
# Trains RUN from INIT_RUN unless RUN is finished; INIT_RUN's own stage (stage_INIT_RUN, below)
# runs first, so a stage is trained only while some stage after it is unfinished.
unet_stage() {  # RUN INIT_RUN STEPS LR_DECAY_FROM TWO_DIFFERENT_SHARE [FLAGS...]
  if ! unfinished "$1" "$3"; then return 0; fi
  if [ "$2" != unet_text ]; then "stage_$2"; fi  # unet_text is trained above
  run=$1 init=$2 steps=$3 decay=$4 share=$5
  shift 5
  stamp "$run"
  $PY train/train_unet.py --run-dir "$RUNS/$run" --latents "$RUNS/latents" --clip "$RUNS/clip" \
    --tokenizer "$RUNS/tokenizer/spiece.model" --steps "$steps" --lr-decay-from "$decay" \
    --two-different-share "$share" --train-text-encoder --threads "$THREADS" --save-every 100 \
    --init-from "$RUNS/$init" "$@" $(resume "$RUNS/$run")
}
Z="--prediction v_prediction --zero-terminal-snr --high-noise-share 0.5 --binding-loss 0.05"
stage_unet_two() { unet_stage unet_two unet_text "$UNET_TWO_STEPS" 3000 0.5; }
stage_unet_pairs() { unet_stage unet_pairs unet_two "$UNET_PAIRS_STEPS" 1000 0.7; }
stage_unet_mix() { unet_stage unet_mix unet_pairs "$UNET_MIX_STEPS" 750 0.4; }
stage_unet_v() { unet_stage unet_v unet_mix "$UNET_V_STEPS" 1500 0.4 --prediction v_prediction; }
stage_unet_zsnr() { unet_stage unet_zsnr unet_v "$UNET_ZSNR_STEPS" 1500 0.4 --prediction v_prediction --zero-terminal-snr; }
stage_unet_zbind() { unet_stage unet_zbind unet_zsnr "$UNET_ZBIND_STEPS" 1200 0.4 $Z; }
stage_unet_zbind2() { unet_stage unet_zbind2 unet_zbind "$UNET_ZBIND2_STEPS" 1200 0.4 $Z; }
stage_unet_zbind2

stamp export
$PY train/export.py --runs "$RUNS" --out models
stamp done
