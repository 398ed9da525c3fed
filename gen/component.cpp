// `sdvk component KIND --model PATH --input IN.safetensors --output OUT.safetensors`: runs one
// network on named input tensors and writes named outputs, for checks against a reference.
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <map>

#include "gen/cli.h"
#include "gen/output_paths.h"
#include "gen/precision_flag.h"
#include "gen/profile.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/weights.h"
#include "score/clip_vision_model.h"
#include "text_encoder/clip_text_model.h"
#include "unet/unet.h"
#include "vae/decoder.h"
#include "vae/tiled_decoder.h"
#include "vae/encoder.h"
#include "vk/error.h"

namespace sdvk::cli {
namespace {

const char* kComponentUsage =
    "usage: sdvk component KIND --model PATH --input IN.safetensors --output OUT.safetensors\n"
    "                      [--overwrite] [--precision fp32|fp16] [--device D] [--profile] [--tile auto|off|N]\n"
    "Runs one network on named inputs and writes named float32 outputs (the golden files' names):\n"
    "  text-encoder  input_ids -> last_hidden_state, penultimate_hidden_state_normed, pooler_output\n"
    "                (+ text_embeds when the model has a projection)\n"
    "  clip          input_ids, pixel_values -> text_embeds, image_embeds, cosine_image_text\n"
    "  vae-decode    latent -> decoded        (no scaling factor applied)\n"
    "  vae-encode    image -> moments         (mean and log-variance on channels)\n"
    "  unet          sample, timestep, encoder_hidden_states -> out\n"
    "PATH: a component folder, a diffusers pipeline folder or a single-file checkpoint.\n"
    "--overwrite: replace OUT.safetensors when it exists (otherwise an existing file is an error).\n"
    "--precision: storage type of weights and activations (default fp32; arithmetic is fp32).\n"
    "--profile: print the GPU time per op kind (timestamp queries) and the activation arena size.\n"
    "--tile (vae-decode): decode in overlapping latent tiles of N pixels (overlap N/4); auto (the\n"
    "          default) tiles latents over 64 pixels a side or whose decode would not fit the device.\n"
    ;

// Named tensors of an input file as float32: token ids from integers, everything else from
// a float dtype.
class Inputs {
 public:
  explicit Inputs(const std::string& path) : file_(path) {}
  std::vector<float> get(const std::string& name, Shape* shape) const {
    const TensorInfo* t = file_.find(name);
    if (!t) throw Error(file_.path() + ": no tensor '" + name + "'");
    *shape = Shape(t->shape.begin(), t->shape.end());
    if (name == "input_ids") return ids_to_f32(*t);
    return to_f32(*t);
  }

 private:
  SafetensorsFile file_;
};

struct Outputs {
  std::map<std::string, std::pair<Shape, std::vector<float>>> tensors;
  void add(Context& ctx, const std::string& name, const Tensor& t) { tensors[name] = {t.shape(), t.download(ctx)}; }
  void add(const std::string& name, Shape shape, std::vector<float> values) {
    tensors[name] = {std::move(shape), std::move(values)};
  }
  void write(const std::string& path) const {
    std::vector<TensorToWrite> w;
    for (auto& [name, st] : tensors)
      w.push_back({name, FileDType::F32, st.first, st.second.data(), st.second.size() * 4});
    write_safetensors(path, w);
  }
};

const Component& pick(const WeightSet& w, const std::vector<std::string>& names) {
  for (auto& n : names)
    if (w.has(n)) return w.component(n);
  return w.component(names.front());  // throws, listing what the model has
}

ClipTextOutputs run_text(Context& ctx, Sequence& s, const ClipTextModel& m, const Inputs& in, Tensor* keep) {
  Shape shape;
  std::vector<float> ids = in.get("input_ids", &shape);
  if (shape.size() != 2) throw Error("input_ids: expected [batch, tokens], got " + shape_str(shape));
  keep[0] = Tensor::from_floats(ctx, shape, DType::F32, ids, "input_ids");
  keep[1] = Tensor::from_floats(ctx, {shape[0]}, DType::F32, m.pooled_rows(ids, shape[0], shape[1]), "pooled_rows");
  return m.forward(s, keep[0], keep[1]);
}

}  // namespace

int cmd_component(Args& args) {
  if (args.take_flag("--help") || args.rest().empty()) {
    std::fputs(kComponentUsage, stdout);
    return args.rest().empty() ? 2 : 0;
  }
  std::string kind = args.rest().front();
  args = Args("component", std::vector<std::string>(args.rest().begin() + 1, args.rest().end()));
  ContextOptions opt;
  opt.device = args.take("--device");
  std::string model = args.take("--model"), input = args.take("--input"), output = args.take("--output");
  std::string precision = take_precision(args);
  bool profile = args.take_flag("--profile"), overwrite = args.take_flag("--overwrite");
  std::string tile = args.take("--tile");
  args.expect_empty();
  if (!tile.empty() && kind != "vae-decode") throw Error("component: --tile applies to vae-decode only");
  vae::TileOptions tiles = vae::parse_tile_option(tile.empty() ? "auto" : tile);
  if (model.empty()) throw Error("component: --model is required");
  if (input.empty()) throw Error("component: --input is required");
  if (output.empty()) throw Error("component: --output is required");
  const Precision choice = check_precision(args.command(), precision);
  if (kind != "text-encoder" && kind != "clip" && kind != "vae-decode" && kind != "vae-encode" && kind != "unet")
    throw Error("component: unknown kind '" + kind + "' (text-encoder, clip, vae-decode, vae-encode, unet)");
  gen::check_output_file(output, "--output", overwrite);

  Inputs in(input);
  WeightSet weights = WeightSet::load(model);
  Context ctx(opt);
  DType dt = precision_dtype(choice, ctx);
  Sequence s(ctx, profile);
  Outputs out;
  Tensor keep[3];
  if (kind == "text-encoder") {
    ClipTextModel m(ctx, pick(weights, {"text_encoder", "clip"}), dt);
    ClipTextOutputs o = run_text(ctx, s, m, in, keep);
    s.run();
    ClipTextModel::check(ctx, o);
    out.add(ctx, "last_hidden_state", o.last_hidden_state);
    out.add(ctx, "penultimate_hidden_state_normed", o.penultimate_hidden_state_normed);
    out.add(ctx, "pooler_output", o.pooler_output);
    if (o.text_embeds.defined()) out.add(ctx, "text_embeds", o.text_embeds);
  } else if (kind == "clip") {
    const Component& clip = weights.component("clip");
    ClipTextModel text(ctx, clip, dt);
    ClipVisionModel vision(ctx, clip, dt);
    ClipTextOutputs t = run_text(ctx, s, text, in, keep);
    Shape ps;
    std::vector<float> pixels = in.get("pixel_values", &ps);
    keep[2] = Tensor::from_floats(ctx, ps, dt, pixels, "pixel_values");
    ClipVisionOutputs v = vision.forward(s, keep[2]);
    s.run();
    ClipTextModel::check(ctx, t);
    ClipVisionModel::check(ctx, v);
    out.add(ctx, "text_embeds", t.text_embeds);
    out.add(ctx, "image_embeds", v.image_embeds);
    auto& ie = out.tensors["image_embeds"];
    auto& te = out.tensors["text_embeds"];
    int64_t p = ie.first.back();
    out.tensors["cosine_image_text"] = {{ie.first[0], te.first[0]},
                                        ClipVisionModel::cosine_image_text(ie.second, te.second, p)};
  } else if (kind == "unet") {
    unet::UNet2DConditionModel m(ctx, weights.component("unet"), dt);
    Shape xs, ts, cs;
    std::vector<float> x = in.get("sample", &xs), t = in.get("timestep", &ts), c = in.get("encoder_hidden_states", &cs);
    keep[0] = Tensor::from_floats(ctx, xs, dt, x, "sample");
    keep[1] = Tensor::from_floats(ctx, ts, DType::F32, t, "timestep");
    keep[2] = Tensor::from_floats(ctx, cs, dt, c, "encoder_hidden_states");
    Tensor y = m.forward(s, keep[0], keep[1], keep[2]);
    s.run();
    m.check_output();
    out.add(ctx, "out", y);
  } else {
    const Component& vae = weights.component("vae");
    Shape xs;
    std::vector<float> x = in.get(kind == "vae-decode" ? "latent" : "image", &xs);
    keep[0] = Tensor::from_floats(ctx, xs, dt, x, "vae input");
    if (kind == "vae-decode") {
      vae::Decoder dec(ctx, vae, dt);
      const bool tiled = vae::should_tile(ctx, dec, xs, tiles);
      if (profile && tiled) throw Error("component: --profile times a whole decode; add --tile off");
      if (profile) {
        Tensor y = dec.forward(s, keep[0]);
        s.run();
        dec.check_output();
        out.add(ctx, "decoded", y);
      } else {
        HostTensor img = vae::decode_latents(ctx, dec, x, xs, tiles, [tiled](int i, int n) {
          if (tiled) std::fprintf(stderr, "\rvae-decode: tile %d/%d%s", i, n, i == n ? "\n" : "");
        });
        out.add("decoded", img.shape, std::move(img.values));
      }
    } else {
      vae::Encoder enc(ctx, vae, dt);
      Tensor y = enc.forward(s, keep[0]);
      s.run();
      enc.check_output();
      out.add(ctx, "moments", y);
    }
  }
  if (profile) print_profile(s);
  out.write(output);
  std::printf("wrote %s:", output.c_str());
  for (auto& [name, st] : out.tensors) std::printf(" %s %s", name.c_str(), shape_str(st.first).c_str());
  std::printf("\n");
  return 0;
}

}  // namespace sdvk::cli
