#include "pipeline/pipeline.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "pipeline/model_setup.h"
#include "text_encoder/prompt_weights.h"
#include "vk/sequence.h"

namespace sdvk::pipeline {

namespace {

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

// AUTOMATIC1111's emphasis: scale each token's embedding by its weight, then restore the
// window's mean so the overall magnitude stays what the UNet was trained on.
// z: one window [T, C]. Windows without emphasis are left bit-exact.
void apply_emphasis(float* z, const std::vector<float>& weights, int64_t C) {
  if (std::all_of(weights.begin(), weights.end(), [](float w) { return w == 1.0f; })) return;
  const int64_t T = int64_t(weights.size());
  double before = 0, after = 0;
  for (int64_t i = 0; i < T * C; i++) before += z[i];
  for (int64_t t = 0; t < T; t++)
    for (int64_t c = 0; c < C; c++) z[t * C + c] *= weights[size_t(t)];
  for (int64_t i = 0; i < T * C; i++) after += z[i];
  if (after == 0) return;  // nothing to restore against (all-zero window)
  const float restore = float(before / after);
  for (int64_t i = 0; i < T * C; i++) z[i] *= restore;
}

}  // namespace

// The UNet recorded for one input shape, replayed every model call.
struct Pipeline::UNetRun {
  Shape sample_shape;  // [rows, C, h, w]
  int64_t tokens = 0;
  Tensor sample, timestep, encoder_hidden_states, out;
  unet::UNet2DConditionModel::TextTime text_time;  // SDXL only
  std::unique_ptr<Sequence> sequence;
};

Pipeline::Pipeline(Context& ctx, const WeightSet& weights, const Tokenizer& tokenizer, DType dtype,
                   Progress& progress, const Tokenizer* tokenizer_2)
    : ctx_(ctx), weights_(weights), tokenizer_(tokenizer), tokenizer_2_(tokenizer_2), dtype_(dtype),
      progress_(progress) {
  for (const char* name : {"unet", "vae", "text_encoder"})
    if (!weights.has(name))
      throw Error(weights.path() + ": no " + name + " in this model (generate needs unet, vae and text_encoder)");
  if (is_sdxl() && !tokenizer_2) throw Error(weights.path() + ": SDXL needs a second tokenizer (tokenizer_2)");
  const nlohmann::json& unet = weights.component("unet").config;
  const bool text_time = unet.contains("addition_embed_type") && unet["addition_embed_type"] == "text_time";
  if (text_time != is_sdxl())
    throw Error(weights.path() + (is_sdxl() ? ": SDXL's UNet needs addition_embed_type text_time"
                                            : ": a UNet with SDXL's text_time embedding but no text_encoder_2"));
}

Pipeline::~Pipeline() = default;

void Pipeline::release_text_encoder() {
  text_encoder_.reset();
  text_encoder_2_.reset();
}

void Pipeline::release_unet() {
  unet_run_.reset();
  unet_.reset();
}

int Pipeline::latent_factor() const {
  return 1 << (vae::VaeConfig::from(weights_.component("vae")).block_out_channels.size() - 1);
}

int Pipeline::latent_channels() const {
  return int(vae::VaeConfig::from(weights_.component("vae")).latent_channels);
}

int Pipeline::default_size() const {
  const nlohmann::json& c = weights_.component("unet").config;
  int sample = c.contains("sample_size") && c["sample_size"].is_number_integer() ? c["sample_size"].get<int>() : 64;
  return sample * latent_factor();
}

float Pipeline::scaling_factor() const {
  const nlohmann::json& c = weights_.component("vae").config;
  return c.contains("scaling_factor") && c["scaling_factor"].is_number() ? c["scaling_factor"].get<float>() : 0.18215f;
}

void Pipeline::load_text_encoders() {
  if (!text_encoder_) text_encoder_ = std::make_unique<ClipTextModel>(ctx_, weights_.component("text_encoder"), dtype_);
  if (is_sdxl() && !text_encoder_2_) {
    text_encoder_2_ = std::make_unique<ClipTextModel>(ctx_, weights_.component("text_encoder_2"), dtype_);
    if (!text_encoder_2_->has_projection())
      throw Error(weights_.path() + ": SDXL's text_encoder_2 has no text_projection");
  }
}

int Pipeline::text_encoder_layers() {
  load_text_encoders();
  return std::min(text_encoder_->num_layers(), is_sdxl() ? text_encoder_2_->num_layers() : 1 << 30);
}

void Pipeline::check_clip_skip(int clip_skip, const std::string& name) {
  const int layers = text_encoder_layers();
  if (clip_skip < 0 || clip_skip >= layers)
    throw Error(name + " " + std::to_string(clip_skip) + ": expected 0 to " + std::to_string(layers - 1) +
                (is_sdxl() ? " (the shallower of the two text encoders has " : " (the text encoder has ") +
                std::to_string(layers) + " layers)");
}

struct Pipeline::EncodedText {
  std::vector<float> hidden;  // [rows, windows * T, W]
  std::vector<float> pooled;  // [rows, P] or empty
  int64_t width = 0, projection = 0;
};

std::vector<std::vector<PromptWindow>> Pipeline::windows_of(const Tokenizer& tokenizer, const std::string& encoder,
                                                            const std::vector<std::string>& texts,
                                                            size_t* windows) const {
  WindowOptions window;
  window.length = int(std::min<int64_t>(tokenizer.context_length(),
                                        weights_.component(encoder).config.value("max_position_embeddings", 77)));
  window.pad = tokenizer_pad(weights_, encoder);
  std::vector<std::vector<PromptWindow>> rows;
  for (const std::string& text : texts) {
    rows.push_back(encode_weighted_prompt(tokenizer, text, window));
    *windows = std::max(*windows, rows.back().size());
  }
  // Rows of fewer windows are padded with empty-prompt windows, as A1111 does, so all rows
  // have the same length for the batched UNet call.
  const PromptWindow empty = encode_weighted_prompt(tokenizer, "", window).front();
  for (auto& r : rows) r.resize(*windows, empty);
  return rows;
}

Pipeline::EncodedText Pipeline::encode_with(const ClipTextModel& te, const std::vector<std::vector<PromptWindow>>& rows,
                                            int clip_skip, bool sdxl, bool pooled) {
  const size_t windows = rows.front().size();
  const int64_t R = int64_t(rows.size()), N = R * int64_t(windows), T = int64_t(rows.front().front().ids.size());
  std::vector<float> ids;
  ids.reserve(size_t(N * T));
  for (auto& r : rows)
    for (auto& w : r)
      for (int id : w.ids) ids.push_back(float(id));

  Sequence s(ctx_);
  Tensor ids_t = Tensor::from_floats(ctx_, {N, T}, DType::F32, ids, "input_ids");
  Tensor pooled_rows = Tensor::from_floats(ctx_, {N}, DType::F32, te.pooled_rows(ids, N, T), "pooled_rows");
  // SDXL conditions on hidden_states[-(2 + clip_skip)] before the final norm.
  ClipTextOutputs out = te.forward(s, ids_t, pooled_rows, sdxl ? clip_skip + 1 : std::max(clip_skip, 1), sdxl);
  s.run();
  ClipTextModel::check(ctx_, out);
  EncodedText e;
  e.width = te.width();
  const Tensor& hidden = sdxl ? out.penultimate_hidden_state
                              : clip_skip > 0 ? out.penultimate_hidden_state_normed : out.last_hidden_state;
  e.hidden = hidden.download(ctx_);
  for (int64_t r = 0; r < R; r++)
    for (size_t w = 0; w < windows; w++)
      apply_emphasis(e.hidden.data() + (r * int64_t(windows) + int64_t(w)) * T * e.width, rows[size_t(r)][w].weights,
                     e.width);
  if (pooled) {  // the first window's projected eos state, as A1111 takes it for long prompts
    e.projection = te.projection_dim();
    std::vector<float> all = out.text_embeds.download(ctx_);  // [N, P]
    for (int64_t r = 0; r < R; r++) {
      auto first = all.begin() + ptrdiff_t(r * int64_t(windows) * e.projection);
      e.pooled.insert(e.pooled.end(), first, first + ptrdiff_t(e.projection));
    }
  }
  return e;
}

Conditioning Pipeline::encode(const std::vector<std::string>& prompts, const std::vector<std::string>& negatives,
                              bool guidance, int clip_skip) {
  check_clip_skip(clip_skip, "clip skip");
  std::vector<std::string> texts;
  if (guidance) texts = negatives;
  texts.insert(texts.end(), prompts.begin(), prompts.end());

  size_t windows = 1;
  const auto rows = windows_of(tokenizer_, "text_encoder", texts, &windows);
  const auto rows_2 = is_sdxl() ? windows_of(*tokenizer_2_, "text_encoder_2", texts, &windows)
                                : std::vector<std::vector<PromptWindow>>{};
  progress_.begin("encode", 1);
  Conditioning cond;
  const int64_t R = int64_t(texts.size()), T = int64_t(rows.front().front().ids.size());
  cond.images = int(guidance ? R / 2 : R);
  if (!is_sdxl()) {
    EncodedText e = encode_with(*text_encoder_, rows, clip_skip, false, false);
    cond.embeddings.shape = {R, int64_t(windows) * T, e.width};
    cond.embeddings.values = std::move(e.hidden);
    progress_.end();
    return cond;
  }
  // SDXL: both encoders over the same number of windows, joined on the feature axis.
  auto pad_to = [&](std::vector<std::vector<PromptWindow>> r, const Tokenizer& tok, const std::string& encoder) {
    if (r.front().size() < windows) r = windows_of(tok, encoder, texts, &windows);
    return r;
  };
  EncodedText e1 = encode_with(*text_encoder_, pad_to(rows, tokenizer_, "text_encoder"), clip_skip, true, false);
  EncodedText e2 = encode_with(*text_encoder_2_, pad_to(rows_2, *tokenizer_2_, "text_encoder_2"), clip_skip, true, true);
  if (e2.hidden.size() / size_t(e2.width) != e1.hidden.size() / size_t(e1.width))
    throw Error(weights_.path() + ": the two text encoders' windows differ in length");
  const int64_t W1 = e1.width, W2 = e2.width, positions = R * int64_t(windows) * T;
  cond.embeddings.shape = {R, int64_t(windows) * T, W1 + W2};
  cond.embeddings.values.resize(size_t(positions * (W1 + W2)));
  for (int64_t i = 0; i < positions; i++) {
    std::copy_n(e1.hidden.begin() + ptrdiff_t(i * W1), W1, cond.embeddings.values.begin() + ptrdiff_t(i * (W1 + W2)));
    std::copy_n(e2.hidden.begin() + ptrdiff_t(i * W2), W2,
                cond.embeddings.values.begin() + ptrdiff_t(i * (W1 + W2) + W1));
  }
  cond.pooled.shape = {R, e2.projection};
  cond.pooled.values = std::move(e2.pooled);
  const bool no_negative = std::all_of(negatives.begin(), negatives.end(), [](const std::string& n) { return n.empty(); });
  if (guidance && no_negative && weights_.force_zeros_for_empty_prompt()) {  // uncond rows come first
    std::fill_n(cond.embeddings.values.begin(), size_t(R / 2 * int64_t(windows) * T * (W1 + W2)), 0.0f);
    std::fill_n(cond.pooled.values.begin(), size_t(R / 2 * e2.projection), 0.0f);
  }
  progress_.end();
  return cond;
}

HostTensor Pipeline::denoise(Scheduler& scheduler, HostTensor latents, const Conditioning& cond, float cfg_scale,
                             size_t first_call, const NoiseSource& noise) {
  if (!unet_) unet_ = std::make_unique<unet::UNet2DConditionModel>(ctx_, weights_.component("unet"), dtype_);
  const int64_t B = latents.shape.at(0), rows = cond.embeddings.shape.at(0), tokens = cond.embeddings.shape.at(1);
  const bool guidance = rows == 2 * B;
  if (!guidance && rows != B) throw Error("denoise: conditioning rows do not match the batch");
  Shape sample_shape = latents.shape;
  sample_shape[0] = rows;
  if (!unet_run_ || unet_run_->sample_shape != sample_shape || unet_run_->tokens != tokens) {
    unet_run_.reset();  // frees the previous arena before the new one is placed
    auto run = std::make_unique<UNetRun>();
    run->sample_shape = sample_shape;
    run->tokens = tokens;
    run->sequence = std::make_unique<Sequence>(ctx_);
    run->sample = Tensor::empty(ctx_, sample_shape, dtype_, "unet.sample");
    run->timestep = Tensor::empty(ctx_, {rows}, DType::F32, "unet.timestep");
    run->encoder_hidden_states = Tensor::empty(ctx_, cond.embeddings.shape, dtype_, "unet.encoder_hidden_states");
    if (unet_->has_text_time()) {
      run->text_time.text_embeds = Tensor::empty(ctx_, {rows, unet_->text_embeds_dim()}, dtype_, "unet.text_embeds");
      run->text_time.time_ids = Tensor::empty(ctx_, {rows, 6}, DType::F32, "unet.time_ids");
    }
    run->out = unet_->forward(*run->sequence, run->sample, run->timestep, run->encoder_hidden_states,
                              unet_->has_text_time() ? &run->text_time : nullptr);
    // The step's host traffic rides in its one submission (staged on non-mappable memory).
    run->sequence->input(run->sample);
    run->sequence->input(run->timestep);
    run->sequence->output(run->out);
    unet_run_ = std::move(run);
  }
  UNetRun& run = *unet_run_;
  run.encoder_hidden_states.upload(ctx_, cond.embeddings.values);
  if (unet_->has_text_time()) {
    if (cond.pooled.shape != Shape{rows, unet_->text_embeds_dim()} || cond.time_ids.size() != 6)
      throw Error("denoise: SDXL needs the pooled text embedding [" + std::to_string(rows) + "," +
                  std::to_string(unet_->text_embeds_dim()) + "] and six add_time_ids");
    run.text_time.text_embeds.upload(ctx_, cond.pooled.values);
    std::vector<float> ids;
    for (int64_t r = 0; r < rows; r++) ids.insert(ids.end(), cond.time_ids.begin(), cond.time_ids.end());
    run.text_time.time_ids.upload(ctx_, ids);
  }

  const size_t calls = scheduler.model_calls(), n = latents.values.size();
  progress_.begin("denoise", int(calls - first_call));
  std::vector<float> model_in(guidance ? 2 * n : n), guided(n);
  const uint64_t submissions_before = ctx_.submissions();
  for (size_t call = first_call; call < calls; call++) {
    const std::string where = "denoise step " + std::to_string(call + 1) + "/" + std::to_string(calls);
    std::vector<float> scaled = scheduler.scale_model_input(latents.values, call);
    std::copy(scaled.begin(), scaled.end(), model_in.begin());
    if (guidance) std::copy(scaled.begin(), scaled.end(), model_in.begin() + ptrdiff_t(n));  // [x; x]
    // One queue submission and one wait per step, on every device class.
    run.sequence->write_input(run.sample, model_in);
    run.sequence->write_input(run.timestep, std::vector<float>(size_t(rows), float(scheduler.timesteps()[call])));
    run.sequence->run();
    try {
      unet_->check_output(*run.sequence);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    std::vector<float> eps = run.sequence->read_output(run.out);  // [rows, C, h, w]: uncond rows first
    if (guidance) {
      for (size_t i = 0; i < n; i++) guided[i] = eps[i] + cfg_scale * (eps[n + i] - eps[i]);
    } else {
      guided.assign(eps.begin(), eps.begin() + ptrdiff_t(n));
    }
    latents.values = scheduler.step(guided, call, latents.values, noise);
    if (!all_finite(latents.values)) throw Error(where + ": the latent holds NaN/Inf values (nothing was written)");
    progress_.advance(int(call - first_call + 1));
  }
  denoise_stats_.calls += calls - first_call;
  denoise_stats_.submissions += ctx_.submissions() - submissions_before;
  progress_.end();
  return latents;
}

HostTensor Pipeline::decode(const HostTensor& latents, const vae::TileOptions& tiles) {
  if (!decoder_) decoder_ = std::make_unique<vae::Decoder>(ctx_, weights_.component("vae"), vae_dtype());
  const int64_t B = latents.shape.at(0);
  Shape one = latents.shape;
  one[0] = 1;
  const float inv_scale = 1.0f / scaling_factor();
  const size_t per_latent = size_t(shape_numel(one));
  const int tiles_per_image = vae::should_tile(ctx_, *decoder_, one, tiles)
                                  ? vae::tile_grid(ctx_, *decoder_, one, tiles).count() : 1;
  HostTensor images;
  progress_.begin("decode", int(B) * tiles_per_image);
  for (int64_t b = 0; b < B; b++) {
    std::vector<float> z(latents.values.begin() + ptrdiff_t(size_t(b) * per_latent),
                         latents.values.begin() + ptrdiff_t(size_t(b + 1) * per_latent));
    for (float& v : z) v *= inv_scale;  // diffusers: vae.decode(latents / scaling_factor)
    HostTensor img;
    try {
      img = vae::decode_latents(ctx_, *decoder_, z, one, tiles,
                                [&](int done, int) { progress_.advance(int(b) * tiles_per_image + done); });
    } catch (const Error& e) {
      throw Error("decode image " + std::to_string(b + 1) + ": " + e.what() + " (nothing was written)");
    }
    for (float& v : img.values) v = std::clamp(v / 2 + 0.5f, 0.0f, 1.0f);  // (image / 2 + 0.5).clamp(0, 1)
    images.shape = img.shape;
    images.values.insert(images.values.end(), img.values.begin(), img.values.end());
  }
  images.shape[0] = B;
  progress_.end();
  return images;
}

HostTensor Pipeline::encode_images(const HostTensor& images, TorchGenerator& generator) {
  vae::Encoder encoder(ctx_, weights_.component("vae"), vae_dtype());
  const int64_t B = images.shape.at(0);
  Shape one = images.shape;
  one[0] = 1;
  Sequence s(ctx_);
  Tensor image = Tensor::empty(ctx_, one, vae_dtype(), "vae.image");
  Tensor moments = encoder.forward(s, image);
  s.input(image);  // each image: one submission carrying it in and its moments out
  s.output(moments);
  const int64_t C = moments.dim(1) / 2, h = moments.dim(2), w = moments.dim(3);
  const size_t per_image = size_t(shape_numel(one)), per_latent = size_t(C * h * w);
  std::vector<float> mean, logvar;
  progress_.begin("encode image", int(B));
  for (int64_t b = 0; b < B; b++) {
    std::vector<float> x(images.values.begin() + ptrdiff_t(size_t(b) * per_image),
                         images.values.begin() + ptrdiff_t(size_t(b + 1) * per_image));
    for (float& v : x) v = 2 * v - 1;  // [0,1] -> [-1,1], as diffusers' image processor
    s.write_input(image, x);
    s.run();
    encoder.check_output(s);
    std::vector<float> m = s.read_output(moments);  // [1, 2C, h, w]: mean then log-variance
    mean.insert(mean.end(), m.begin(), m.begin() + ptrdiff_t(per_latent));
    logvar.insert(logvar.end(), m.begin() + ptrdiff_t(per_latent), m.end());
    progress_.advance(int(b + 1));
  }
  progress_.end();
  // DiagonalGaussianDistribution.sample: mean + exp(0.5 * clamp(logvar, -30, 20)) * randn,
  // one batched draw.
  std::vector<float> z = generator.randn(mean.size());
  HostTensor latents;
  latents.shape = {B, C, h, w};
  latents.values.resize(mean.size());
  const float scale = scaling_factor();
  for (size_t i = 0; i < mean.size(); i++) {
    float std_dev = std::exp(0.5f * std::clamp(logvar[i], -30.0f, 20.0f));
    latents.values[i] = scale * (mean[i] + std_dev * z[i]);
  }
  return latents;
}

DType Pipeline::vae_dtype() const {
  // StableDiffusionXLPipeline runs a float16 VAE in float32 when its config says force_upcast
  // (the released SDXL VAE overflows float16); SD 1.x / 2.x pipelines ignore the key.
  const nlohmann::json& c = weights_.component("vae").config;
  const bool upcast = is_sdxl() && c.contains("force_upcast") && c["force_upcast"] == true;
  return upcast ? DType::F32 : dtype_;
}

std::vector<float> sdxl_time_ids(int original_height, int original_width, int crop_top, int crop_left,
                                 int target_height, int target_width) {
  return {float(original_height), float(original_width), float(crop_top),
          float(crop_left),       float(target_height),  float(target_width)};
}

HostTensor initial_noise(TorchGenerator& generator, const Shape& shape) {
  HostTensor t;
  t.shape = shape;
  t.values = generator.randn(size_t(shape_numel(shape)));
  return t;
}

}  // namespace sdvk::pipeline
