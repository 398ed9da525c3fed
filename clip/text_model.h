// CLIPTextModel / CLIPTextModelWithProjection (transformers), run as Vulkan dispatches.
// Built from a "text_encoder" component (flat CLIPTextConfig) or a whole "clip" component
// (CLIPModel: its "text_config" and "text_projection.weight"). Weights under "text_model.*".
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "clip/encoder_layer.h"
#include "model/weights.h"
#include "nn/params.h"
#include "ops/unary.h"
#include "vk/sequence.h"

namespace sdvk {

struct ClipTextOutputs {
  Tensor last_hidden_state;                // [B,T,W] after final_layer_norm
  // [B,T,W] hidden_states[-(1 + clip_skip)] -> final_layer_norm; with the default clip_skip 1
  // the second-to-last layer's output ("clip skip", what SD 2.x's original code conditions on)
  Tensor penultimate_hidden_state_normed;
  // [B,T,W] the same hidden state without the final norm (what SDXL conditions on); only when
  // forward() is asked for it
  Tensor penultimate_hidden_state;
  Tensor pooler_output;                    // [B,W] last_hidden_state at each row's first eos
  Tensor text_embeds;                      // [B,P] pooler_output @ text_projection^T (undefined without one)
  Tensor nonfinite_last, nonfinite_penultimate;  // [1] F32 NaN/Inf counts, see check()
};

// One finished forward pass (ClipTextModel::run): its outputs stay downloadable while it lives.
struct ClipTextRun {
  Tensor input_ids, pooled_rows;  // [B,T], [B] F32
  std::unique_ptr<Sequence> sequence;
  ClipTextOutputs outputs;
};

class ClipTextModel {
 public:
  // Uploads the weights once, stored as `dtype`.
  ClipTextModel(Context& ctx, const Component& component, DType dtype);

  int64_t width() const { return width_; }
  int64_t max_positions() const { return positions_; }
  int num_layers() const { return layers_; }
  int heads() const { return heads_; }
  bool has_projection() const { return has_projection_; }
  int64_t projection_dim() const { return projection_dim_; }
  int64_t eos_token_id() const { return eos_id_; }
  DType dtype() const { return dtype_; }

  // Rows of last_hidden_state ([B*T, W] flattened) that pooler_output takes: b*T + the first
  // position holding eos_token_id in row b (transformers' argmax of the ids when the config's
  // eos_token_id is the legacy 2). ids: [B,T] row-major; a row without eos is an Error.
  std::vector<float> pooled_rows(const std::vector<float>& ids, int64_t batch, int64_t tokens) const;

  // Records the forward pass. input_ids: F32 [B,T] exact ids (T <= max_positions);
  // pooled_rows: F32 [B] holding pooled_rows(ids) (upload it before each run). All outputs are
  // kept (downloadable after s.run()). clip_skip (1 to num_layers) picks the layer whose
  // normalised output fills penultimate_hidden_state_normed, counted back from the last; with
  // `raw`, penultimate_hidden_state holds it before the norm as well.
  ClipTextOutputs forward(Sequence& s, const Tensor& input_ids, const Tensor& pooled_rows, int clip_skip = 1,
                          bool raw = false) const;

  // After s.run(): throws Error naming the stage when an output holds NaN or Inf.
  static void check(Context& ctx, const ClipTextOutputs& o);

  // The whole sequence on host ids [B,T] (row-major, exact ids as floats): uploads them and
  // their pooled rows, records forward(), runs it and check()s the outputs.
  ClipTextRun run(Context& ctx, const std::vector<float>& ids, int64_t batch, int64_t tokens, int clip_skip = 1) const;

 private:

  int64_t width_ = 0, intermediate_ = 0, positions_ = 0, projection_dim_ = 0, eos_id_ = 0;
  int layers_ = 0, heads_ = 0;
  float eps_ = 1e-5f;
  ops::Activation act_ = ops::Activation::QuickGelu;
  bool has_projection_ = false;
  DType dtype_ = DType::F32;
  Tensor token_embedding, position_embedding;  // embeddings.*.weight: [vocab,W], [positions,W]
  std::vector<ClipEncoderLayer> layers;            // encoder.layers
  nn::LayerNorm final_layer_norm;
  Tensor text_projection;                      // [P,W], undefined without a projection
};

}  // namespace sdvk
