// Tensor names of other layouts -> diffusers / transformers names, the way diffusers'
// convert_from_ckpt.py (v0.21) and its model loader map them. Each function takes tensors with
// their component prefix removed (each TensorInfo keeps the file's full name for messages),
// returns them under canonical names, and appends the file names it does not recognise to
// `unknown` and the ones it recognises but the model does not use to `ignored`.
#pragma once
#include <string>
#include <vector>

#include "model/tensor_specs.h"

namespace sdvk {

// Original Stable Diffusion UNet ("model.diffusion_model.*"): input_blocks / middle_block /
// output_blocks -> down_blocks / mid_block / up_blocks. proj_in / proj_out keep their shape
// (1x1 conv in SD 1.x, linear in SD 2.x): the config's use_linear_projection follows it.
TensorMap ldm_unet_to_diffusers(const TensorMap& ldm, const std::string& where, std::vector<std::string>* unknown);

// The reverse for one name of a UNet whose blocks hold `layers_per_block` resnets, with
// `up_has_attention[i]` for each up block: "down_blocks.1.attentions.0.proj_in.weight" ->
// "input_blocks.4.1.proj_in.weight" (layers_per_block 2). "" for a name with no LDM form.
// kohya's SDXL LoRA files name UNet layers this way.
std::string diffusers_unet_name_to_ldm(const std::string& name, int layers_per_block,
                                       const std::vector<bool>& up_has_attention);

// Original VAE ("first_stage_model.*" or a stand-alone VAE file): down / mid / up with the
// decoder's levels in reverse order; mid-block attention q, k, v, proj_out -> to_q, to_k,
// to_v, to_out.0 with 1x1 conv weights [C, C, 1, 1] reshaped to linear [C, C].
TensorMap ldm_vae_to_diffusers(const TensorMap& ldm, const std::string& where, std::vector<std::string>* unknown,
                               std::vector<std::string>* ignored);

// SD 1.x text encoder ("cond_stage_model.transformer.*"): already transformers names
// (older files lack the "text_model." level, which is added).
TensorMap ldm_clip_to_diffusers(const TensorMap& ldm, std::vector<std::string>* unknown,
                                std::vector<std::string>* ignored);

// An OpenCLIP text encoder (SD 2.x "cond_stage_model.model.*", SDXL "conditioner.embedders.1.model.*"):
// resblocks -> encoder.layers with the fused in_proj split into q / k / v. text_projection
// ([W,P], applied as x @ P) and logit_scale are left out (the caller transposes the projection
// where it is used). Without keep_last_layer the last layer is ignored too: SD 2.x conditions on
// the penultimate layer, so diffusers' text encoder stops there; SDXL's pooled output needs it.
TensorMap open_clip_to_diffusers(const TensorMap& ldm, const std::string& where, bool keep_last_layer,
                                 std::vector<std::string>* unknown,
                                 std::vector<std::string>* ignored);

// diffusers folders written before 0.14 name the VAE mid-block attention query / key / value /
// proj_attn (diffusers renames them on load); renamed here to to_q / to_k / to_v / to_out.0.
TensorMap rename_legacy_vae_attention(TensorMap tensors);

}  // namespace sdvk
