// Stable Diffusion text-to-image and image-to-image, as diffusers' StableDiffusion(XL)Pipeline /
// StableDiffusion(XL)Img2ImgPipeline compute them:
//   prompt embeddings = text_encoder(tokens)                  [rows, T, C]  (rows: negatives, then prompts)
//     SDXL: cat(text_encoder(tokens).hidden_states[-2], text_encoder_2(tokens_2).hidden_states[-2])
//     on the feature axis, and pooled = text_encoder_2's text_embeds [rows, P]
//   x_T = randn(seed) * init_noise_sigma                     [B,4,h,w]
//   per model call: eps = unet([x; x] scaled, t, [neg; pos] (SDXL: + pooled, add_time_ids))
//                   eps = uncond + cfg * (cond - uncond); x = scheduler.step(eps, x)
//   image = clamp(vae.decode(x / scaling_factor) / 2 + 0.5, 0, 1)  (SDXL with force_upcast: float32 VAE)
// The networks run on the device; the guidance and scheduler math on the CPU (a latent is small).
// Each network's Sequence is recorded once and replayed for every step / image.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clip/text_model.h"
#include "core/host_tensor.h"
#include "model/weights.h"
#include "pipeline/progress.h"
#include "scheduler/scheduler.h"
#include "scheduler/torch_rng.h"
#include "text_encoder/prompt_weights.h"
#include "text_encoder/tokenizer.h"
#include "unet/unet.h"
#include "vae/decoder.h"
#include "vae/encoder.h"
#include "vae/tiled_decoder.h"
#include "vk/context.h"

namespace sdvk::pipeline {

struct Conditioning {
  HostTensor embeddings;  // [rows, windows * T, C]: negatives first, then prompts
  HostTensor pooled;      // SDXL: [rows, P] pooled text embedding (the first window's); else empty
  // SDXL's add_time_ids, the same for every row: original size (h, w), crop top-left (y, x),
  // target size (h, w). Set by the caller (see sdxl_time_ids); empty for SD 1.x / 2.x.
  std::vector<float> time_ids;
  int images = 0;         // rows / 2 with guidance, rows without
};

// add_time_ids as StableDiffusionXLPipeline forms them from its sizes (pixels).
std::vector<float> sdxl_time_ids(int original_height, int original_width, int crop_top, int crop_left,
                                 int target_height, int target_width);

class Pipeline {
 public:
  // `weights` must hold unet, vae and text_encoder (SDXL: and text_encoder_2, whose tokenizer
  // is `tokenizer_2`), and outlive the pipeline. Networks are uploaded on first use, in `dtype`
  // storage.
  Pipeline(Context& ctx, const WeightSet& weights, const Tokenizer& tokenizer, DType dtype, Progress& progress,
           const Tokenizer* tokenizer_2 = nullptr);
  ~Pipeline();

  int latent_factor() const;    // image pixels per latent pixel (8 for SD)
  int latent_channels() const;  // 4 for SD
  int default_size() const;     // the UNet's sample_size * latent_factor (512 for SD 1.5)
  float scaling_factor() const;
  bool is_sdxl() const { return weights_.has("text_encoder_2"); }
  // Layers of the text encoder(s) (loads them; the fewer of SDXL's two): encode's clip_skip
  // must be below this.
  int text_encoder_layers();
  // Error("<name> K: expected 0 to L-1 (...)") unless 0 <= clip_skip < text_encoder_layers().
  void check_clip_skip(int clip_skip, const std::string& name);

  // Embeddings of each image's prompt (and negative prompt when `guidance`), with emphasis
  // weights and long prompts in several 75-token windows (text_encoder/prompt_weights.h).
  // clip_skip 0: the last layer; k: the k-th layer from the end, through the final norm.
  // SDXL: hidden_states[-(2 + clip_skip)] of each encoder, no final norm; with no negative
  // prompt and force_zeros_for_empty_prompt, the uncond rows are zeros.
  Conditioning encode(const std::vector<std::string>& prompts, const std::vector<std::string>& negatives, bool guidance,
                      int clip_skip);

  // Runs model calls [first_call, scheduler.model_calls()) from `latents` (already scaled by
  // init_noise_sigma, or noised for img2img). cfg_scale is used when cond has guidance.
  // Throws Error naming the call when the UNet output or the latent goes non-finite.
  HostTensor denoise(Scheduler& scheduler, HostTensor latents, const Conditioning& cond, float cfg_scale,
                     size_t first_call, const NoiseSource& noise);

  // Model calls and queue submissions of every denoise() so far: one submission per call on
  // every device (the step's uploads and downloads ride in it).
  struct DenoiseStats {
    uint64_t calls = 0, submissions = 0;
  };
  const DenoiseStats& denoise_stats() const { return denoise_stats_; }

  // Frees a network's weights and recorded runs once it is no longer needed, so the next stage
  // has the memory (SD 1.5 in fp16: text encoder 0.25 GB, UNet 1.7 GB, VAE 0.16 GB).
  void release_text_encoder();  // both of SDXL's
  void release_unet();

  // Latents [B,4,h,w] (unscaled) -> images [B,3,H,W] in [0,1]. One image at a time, in
  // overlapping tiles where `tiles` says (vae/tiled_decoder.h).
  HostTensor decode(const HostTensor& latents, const vae::TileOptions& tiles);
  // Images [B,3,H,W] in [0,1] -> scaled latents sampled from the VAE's distribution with
  // `noise` (diffusers' latent_dist.sample(generator)), times scaling_factor.
  HostTensor encode_images(const HostTensor& images, TorchGenerator& generator);

 private:
  struct UNetRun;
  struct EncodedText;
  void load_text_encoders();
  // One encoder over every row's windows: hidden states [rows, windows * T, W] with emphasis
  // applied, and (SDXL's encoder 2) the first window's text_embeds [rows, P].
  EncodedText encode_with(const ClipTextModel& encoder, const std::vector<std::vector<PromptWindow>>& rows,
                          int clip_skip, bool sdxl, bool pooled);
  // Each text's windows for `tokenizer`, padded with empty-prompt windows to `windows`.
  std::vector<std::vector<PromptWindow>> windows_of(const Tokenizer& tokenizer, const std::string& encoder,
                                                    const std::vector<std::string>& texts, size_t* windows) const;
  // The VAE's storage: float32 where SDXL's force_upcast asks for it.
  DType vae_dtype() const;

  Context& ctx_;
  const WeightSet& weights_;
  const Tokenizer& tokenizer_;
  const Tokenizer* tokenizer_2_;
  DType dtype_;
  Progress& progress_;
  std::unique_ptr<ClipTextModel> text_encoder_, text_encoder_2_;
  std::unique_ptr<unet::UNet2DConditionModel> unet_;
  std::unique_ptr<vae::Decoder> decoder_;
  std::unique_ptr<UNetRun> unet_run_;
  DenoiseStats denoise_stats_;
};

// Starting noise of a batch: torch.randn([batch, C, h, w], generator) drawn from `generator`
// (seeded by the caller), so image k matches a diffusers batch with a CPU generator.
HostTensor initial_noise(TorchGenerator& generator, const Shape& shape);

}  // namespace sdvk::pipeline
