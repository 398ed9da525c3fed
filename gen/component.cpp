// `sdvk component KIND --model PATH --input IN.safetensors --output OUT.safetensors`: runs one
// network on named input tensors and writes named outputs, for checks against a reference.
#include <cstdio>
#include <algorithm>
#include <cstring>
#include <map>

#include "clip/text_model.h"
#include "clip/vision_model.h"
#include "core/error.h"
#include "gen/cli.h"
#include "gen/output_paths.h"
#include "gen/precision_flag.h"
#include "gen/profile.h"
#include "gen/tile_flag.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "model/weights.h"
#include "unet/unet.h"
#include "vae/decoder.h"
#include "vae/encoder.h"
#include "vae/tiled_decoder.h"

namespace sdvk::cli {
namespace {

const char* kComponentUsage =
    "usage: sdvk component KIND --model PATH --input IN.safetensors --output OUT.safetensors\n"
    "                      [--overwrite] [--precision fp32|fp16] [--device D] [--profile] [--tile auto|off|N]\n"
    "Runs one network on named inputs and writes named float32 outputs (the golden files' names):\n"
    "  text-encoder  input_ids -> last_hidden_state, penultimate_hidden_state (what SDXL conditions on),\n"
    "                penultimate_hidden_state_normed, pooler_output (+ text_embeds when projected)\n"
    "  text-encoder-2  the same for SDXL's second text encoder\n"
    "  clip          input_ids, pixel_values -> text_embeds, image_embeds, cosine_image_text\n"
    "  vae-decode    latent -> decoded        (no scaling factor applied)\n"
    "  vae-encode    image -> moments         (mean and log-variance on channels)\n"
    "  unet          sample, timestep, encoder_hidden_states (SDXL: + text_embeds, time_ids) -> out\n"
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
  return m.forward(s, keep[0], keep[1], 1, true);
}

// The flags of one run, checked before anything is loaded.
struct ComponentRequest {
  std::string kind, model, input, output;
  ContextOptions device;
  Precision precision = Precision::F32;
  bool profile = false;
  vae::TileOptions tiles;
};

ComponentRequest parse_component_request(Args& args) {
  ComponentRequest r;
  r.kind = args.rest().front();
  args = Args("component", std::vector<std::string>(args.rest().begin() + 1, args.rest().end()));
  r.device.device = args.take("--device");
  r.model = args.take("--model");
  r.input = args.take("--input");
  r.output = args.take("--output");
  const std::string precision = take_precision(args);
  r.profile = args.take_flag("--profile");
  const bool overwrite = args.take_flag("--overwrite");
  const std::string tile = args.take("--tile");
  args.expect_empty();
  if (!tile.empty() && r.kind != "vae-decode") throw Error("component: --tile applies to vae-decode only");
  r.tiles = parse_tile_flag(tile.empty() ? "auto" : tile);
  if (r.model.empty()) throw Error("component: --model is required");
  if (r.input.empty()) throw Error("component: --input is required");
  if (r.output.empty()) throw Error("component: --output is required");
  r.precision = check_precision(args.command(), precision);
  const std::string& k = r.kind;
  if (k != "text-encoder" && k != "text-encoder-2" && k != "clip" && k != "vae-decode" && k != "vae-encode" &&
      k != "unet")
    throw Error("component: unknown kind '" + k + "' (text-encoder, text-encoder-2, clip, vae-decode, vae-encode, unet)");
  gen::check_output_file(r.output, "--output", overwrite);
  return r;
}

// What every kind's run needs: the device, the weights' storage type, the recorded sequence,
// the inputs, and tensors that must outlive the run.
struct Run {
  Context& ctx;
  DType dt;
  Sequence& s;
  const Inputs& in;
  Outputs& out;
  Tensor keep[5];
};

void run_text_encoder(Run& r, const WeightSet& weights, bool second) {
  ClipTextModel m(r.ctx, second ? weights.component("text_encoder_2") : pick(weights, {"text_encoder", "clip"}), r.dt);
  ClipTextOutputs o = run_text(r.ctx, r.s, m, r.in, r.keep);
  r.s.run();
  ClipTextModel::check(r.ctx, o);
  r.out.add(r.ctx, "last_hidden_state", o.last_hidden_state);
  r.out.add(r.ctx, "penultimate_hidden_state", o.penultimate_hidden_state);
  r.out.add(r.ctx, "penultimate_hidden_state_normed", o.penultimate_hidden_state_normed);
  r.out.add(r.ctx, "pooler_output", o.pooler_output);
  if (o.text_embeds.defined()) r.out.add(r.ctx, "text_embeds", o.text_embeds);
}

void run_clip(Run& r, const WeightSet& weights) {
  const Component& clip = weights.component("clip");
  ClipTextModel text(r.ctx, clip, r.dt);
  ClipVisionModel vision(r.ctx, clip, r.dt);
  ClipTextOutputs t = run_text(r.ctx, r.s, text, r.in, r.keep);
  Shape ps;
  std::vector<float> pixels = r.in.get("pixel_values", &ps);
  r.keep[2] = Tensor::from_floats(r.ctx, ps, r.dt, pixels, "pixel_values");
  ClipVisionOutputs v = vision.forward(r.s, r.keep[2]);
  r.s.run();
  ClipTextModel::check(r.ctx, t);
  ClipVisionModel::check(r.ctx, v);
  r.out.add(r.ctx, "text_embeds", t.text_embeds);
  r.out.add(r.ctx, "image_embeds", v.image_embeds);
  auto& ie = r.out.tensors["image_embeds"];
  auto& te = r.out.tensors["text_embeds"];
  int64_t p = ie.first.back();
  r.out.tensors["cosine_image_text"] = {{ie.first[0], te.first[0]},
                                        ClipVisionModel::cosine_image_text(ie.second, te.second, p)};
}

void run_unet(Run& r, const WeightSet& weights) {
  unet::UNet2DConditionModel m(r.ctx, weights.component("unet"), r.dt);
  Shape xs, ts, cs;
  std::vector<float> x = r.in.get("sample", &xs), t = r.in.get("timestep", &ts), c = r.in.get("encoder_hidden_states", &cs);
  r.keep[0] = Tensor::from_floats(r.ctx, xs, r.dt, x, "sample");
  r.keep[1] = Tensor::from_floats(r.ctx, ts, DType::F32, t, "timestep");
  r.keep[2] = Tensor::from_floats(r.ctx, cs, r.dt, c, "encoder_hidden_states");
  unet::UNet2DConditionModel::TextTime text_time;  // SDXL's micro-conditioning
  if (m.has_text_time()) {
    Shape es, is;
    std::vector<float> e = r.in.get("text_embeds", &es), ids = r.in.get("time_ids", &is);
    r.keep[3] = text_time.text_embeds = Tensor::from_floats(r.ctx, es, r.dt, e, "text_embeds");
    r.keep[4] = text_time.time_ids = Tensor::from_floats(r.ctx, is, DType::F32, ids, "time_ids");
  }
  Tensor y = m.forward(r.s, r.keep[0], r.keep[1], r.keep[2], m.has_text_time() ? &text_time : nullptr);
  r.s.run();
  m.check_output();
  r.out.add(r.ctx, "out", y);
}

// Whole under --profile (it times one decode), else tiled as --tile says.
void run_vae_decode(Run& r, const WeightSet& weights, const vae::TileOptions& tiles, bool profile) {
  const Component& vae = weights.component("vae");
  Shape xs;
  std::vector<float> x = r.in.get("latent", &xs);
  r.keep[0] = Tensor::from_floats(r.ctx, xs, r.dt, x, "vae input");
  vae::Decoder dec(r.ctx, vae, r.dt);
  const bool tiled = vae::should_tile(r.ctx, dec, xs, tiles);
  if (profile && tiled) throw Error("component: --profile times a whole decode; add --tile off");
  if (profile) {
    Tensor y = dec.forward(r.s, r.keep[0]);
    r.s.run();
    dec.check_output();
    r.out.add(r.ctx, "decoded", y);
  } else {
    HostTensor img = vae::decode_latents(r.ctx, dec, x, xs, tiles, [tiled](int i, int n) {
      if (tiled) std::fprintf(stderr, "\rvae-decode: tile %d/%d%s", i, n, i == n ? "\n" : "");
    });
    r.out.add("decoded", img.shape, std::move(img.values));
  }
}

void run_vae_encode(Run& r, const WeightSet& weights) {
  const Component& vae = weights.component("vae");
  Shape xs;
  std::vector<float> x = r.in.get("image", &xs);
  r.keep[0] = Tensor::from_floats(r.ctx, xs, r.dt, x, "vae input");
  vae::Encoder enc(r.ctx, vae, r.dt);
  Tensor y = enc.forward(r.s, r.keep[0]);
  r.s.run();
  enc.check_output();
  r.out.add(r.ctx, "moments", y);
}

}  // namespace

int cmd_component(Args& args) {
  if (int status; args.usage(kComponentUsage, &status)) return status;
  const ComponentRequest req = parse_component_request(args);
  Inputs in(req.input);
  WeightSet weights = WeightSet::load(req.model);
  Context ctx(req.device);
  Sequence s(ctx, req.profile);
  Outputs out;
  Run run{ctx, precision_dtype(req.precision, ctx), s, in, out, {}};
  if (req.kind == "text-encoder" || req.kind == "text-encoder-2") run_text_encoder(run, weights, req.kind != "text-encoder");
  else if (req.kind == "clip") run_clip(run, weights);
  else if (req.kind == "unet") run_unet(run, weights);
  else if (req.kind == "vae-decode") run_vae_decode(run, weights, req.tiles, req.profile);
  else run_vae_encode(run, weights);
  if (req.profile) print_profile(s);
  out.write(req.output);
  std::printf("wrote %s:", req.output.c_str());
  for (auto& [name, st] : out.tensors) std::printf(" %s %s", name.c_str(), shape_str(st.first).c_str());
  std::printf("\n");
  return 0;
}

}  // namespace sdvk::cli
