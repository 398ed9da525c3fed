// `sdvk generate`: text-to-image (and image-to-image) with a Stable Diffusion model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>

#include "gen/cli.h"
#include "gen/image_output.h"
#include "gen/model_setup.h"
#include "gen/rerank.h"
#include "gen/output_paths.h"
#include "gen/pipeline.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "vk/error.h"

namespace sdvk::cli {
namespace {

const char* kGenerateUsage =
    "usage: sdvk generate --prompt TEXT [options]\n"
    "Generates images from a text prompt with a Stable Diffusion model (SD 1.x / 2.x).\n"
    "  --model PATH            diffusers pipeline folder or single-file checkpoint (.safetensors)\n"
    "                          (default: the bundled demo model, models/demo-sd, when present)\n"
    "  --prompt TEXT           what to draw; (word:1.3) / (word) / [word] set emphasis, BREAK starts a\n"
    "                          new 75-token window, longer prompts use several windows\n"
    "  --prompts-file FILE     one prompt per line (empty lines skipped); prompt p uses seed + p\n"
    "  --negative-prompt TEXT  what to steer away from (default empty)\n"
    "  --steps N               scheduler steps (default 25)\n"
    "  --cfg-scale X           classifier-free guidance scale (default 7.5; 1 = no guidance, one UNet pass)\n"
    "  --scheduler NAME        ddim, ddpm, dpmpp_2m, dpmpp_2m_karras, euler, euler_a, heun, lcm, lms,\n"
    "                          pndm, unipc (default: the model's scheduler_config.json)\n"
    "  --seed S                64-bit seed (default: random, printed); the starting noise is\n"
    "                          torch.randn([batch,4,h,w]) from torch.Generator().manual_seed(S), as a\n"
    "                          diffusers script with a CPU generator draws it\n"
    "  --width W --height H    image size, multiples of the model's size step (default: the model's\n"
    "                          native size, 512 for SD 1.5)\n"
    "  --batch B               images per prompt, drawn as one batch (default 1)\n"
    "  --clip-skip K           condition on the K-th text encoder layer from the end (default 0: the\n"
    "                          last; 1 = penultimate, A1111's \"clip skip 2\")\n"
    "  --precision P           fp16, fp32 or auto (default auto: fp16 where the device stores 16-bit)\n"
    "  --device D              Vulkan device index or name substring\n"
    "  --output PATTERN        PNG path; {n} counter, {seed}, {index}, {rank}, {prompt} placeholders\n"
    "                          (default sdvk-{n}.png); existing files are never overwritten silently\n"
    "  --overwrite             allow replacing existing files named without {n}\n"
    "  --tile auto|off|N       VAE decode in overlapping tiles of N latent pixels (overlap N/4), blended;\n"
    "                          auto (default) tiles latents over 64 a side or decodes too big for the device\n"
    "  --init-noise FILE       starting noise from a safetensors file (tensor 'noise', [B,4,h,w])\n"
    "  --save-latents FILE     write the final latents (tensor 'latents') to a safetensors file\n"
    "  --init-image FILE       image-to-image: start from this PNG/JPEG (its size is the default output\n"
    "                          size; a different --width/--height is refused)\n"
    "  --strength S            image-to-image: how much to change it, 0..1 (default 0.8)\n"
    "  --tokenizer DIR         CLIP tokenizer folder (default: the model's, else the bundled one)\n"
    "  --config-override C.KEY=VALUE  set a config value of component C, e.g.\n"
    "                          text_encoder.num_attention_heads=12 (a single-file checkpoint carries no\n"
    "                          config; see sdvk inspect for what was assumed); repeatable\n"
    "  --best-of N             generate N candidates per prompt and rank them with --rerank-clip\n"
    "  --rerank-clip PATH      CLIP model folder used to score candidates against the prompt\n"
    "                          (default: the bundled demo CLIP, models/demo-clip, when present)\n"
    "  --keep K                with --best-of: write only the K best (default: all, ranked)\n"
    "  --quiet                 no progress bars\n"
    "  --json                  print one JSON summary line (files, seeds, scores, timings) on stdout\n";

struct Job {
  std::string prompt;
  uint64_t seed = 0;
  int prompt_index = 0;
};

std::vector<std::string> read_prompts_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error("--prompts-file " + path + ": cannot read the file");
  std::vector<std::string> prompts;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) prompts.push_back(line);
  }
  if (prompts.empty()) throw Error("--prompts-file " + path + ": no prompts in the file");
  return prompts;
}

gen::HostTensor read_tensor(const std::string& path, const std::string& flag, const std::string& name,
                            const Shape& expected) {
  SafetensorsFile file(path);
  const TensorInfo* t = file.find(name);
  if (!t) throw Error(flag + " " + path + ": no tensor '" + name + "'");
  Shape shape(t->shape.begin(), t->shape.end());
  if (shape != expected)
    throw Error(flag + " " + path + ": '" + name + "' is " + shape_str(shape) + ", expected " + shape_str(expected));
  return {shape, to_f32(*t)};
}

void write_latents(const std::string& path, const std::vector<gen::HostTensor>& latents) {
  // All prompts' latents, stacked on the batch axis.
  gen::HostTensor all{latents.front().shape, {}};
  all.shape[0] = 0;
  for (auto& l : latents) {
    all.shape[0] += l.shape[0];
    all.values.insert(all.values.end(), l.values.begin(), l.values.end());
  }
  write_safetensors(path, {{"latents", FileDType::F32, all.shape, all.values.data(), all.values.size() * 4}});
}

uint64_t random_seed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32 | rd()) & ((uint64_t(1) << 53) - 1);  // exact in JSON readers too
}

}  // namespace

int cmd_generate(Args& args) {
  if (args.take_flag("--help")) {
    std::fputs(kGenerateUsage, stdout);
    return 0;
  }
  const auto t_start = std::chrono::steady_clock::now();
  ContextOptions copt;
  copt.device = args.take("--device");
  std::string model = args.take("--model"), prompt = args.take("--prompt"), prompts_file = args.take("--prompts-file");
  std::string negative = args.take("--negative-prompt"), scheduler_name = args.take("--scheduler");
  std::string precision = args.take("--precision", "auto"), output = args.take("--output", "sdvk-{n}.png");
  std::string init_noise = args.take("--init-noise"), save_latents = args.take("--save-latents");
  std::string init_image = args.take("--init-image"), tokenizer_dir = args.take("--tokenizer");
  std::string rerank_clip = args.take("--rerank-clip");
  const vae::TileOptions tiles = vae::parse_tile_option(args.take("--tile", "auto"));
  LoadOptions lopt;
  for (const std::string& spec : args.take_all("--config-override")) gen::add_config_override(&lopt.config_overrides, spec, "");
  const int steps = args.take_int("--steps", 25, 1, 1000);
  const double cfg = args.take_double("--cfg-scale", 7.5, 0.0, 100.0);
  const double strength = args.take_double("--strength", 0.8, 0.0, 1.0);
  bool seed_given = false;
  const uint64_t seed = args.take_u64("--seed", 0, &seed_given);
  const int width_arg = args.take_int("--width", 0, 8, 16384), height_arg = args.take_int("--height", 0, 8, 16384);
  const int batch_arg = args.take_int("--batch", 1, 1, 64), clip_skip = args.take_int("--clip-skip", 0, 0, 64);
  const int best_of = args.take_int("--best-of", 0, 1, 64), keep = args.take_int("--keep", 0, 1, 64);
  const bool quiet = args.take_flag("--quiet"), json = args.take_flag("--json"), overwrite = args.take_flag("--overwrite");
  args.expect_empty();

  // Everything about the request is checked before any model is loaded.
  if (prompt.empty() == prompts_file.empty())
    throw Error(prompt.empty() ? "generate: --prompt or --prompts-file is required (see --help)"
                               : "generate: give --prompt or --prompts-file, not both");
  if (precision != "auto" && precision != "fp16" && precision != "fp32")
    throw Error("generate: --precision " + precision + ": expected fp16, fp32 or auto");
  if (!scheduler_name.empty() &&
      std::find(Scheduler::names().begin(), Scheduler::names().end(), scheduler_name) == Scheduler::names().end())
    Scheduler::create(nlohmann::json::object(), scheduler_name);  // throws, listing the names
  if (best_of && rerank_clip.empty()) rerank_clip = gen::default_model_path("--rerank-clip", "demo-clip");
  if (!rerank_clip.empty() && !best_of) throw Error("generate: --rerank-clip needs --best-of N");
  if (keep && !best_of) throw Error("generate: --keep needs --best-of N");
  if (keep > best_of && best_of) throw Error("generate: --keep " + std::to_string(keep) + " is more than --best-of");
  if (best_of && batch_arg != 1) throw Error("generate: --best-of N sets the batch; leave --batch out");
  const int batch = best_of ? best_of : batch_arg;
  std::vector<std::string> prompts = prompts_file.empty() ? std::vector<std::string>{prompt} : read_prompts_file(prompts_file);
  if (model.empty()) model = gen::default_model_path("--model", "demo-sd");
  if (!save_latents.empty()) gen::check_writable_folder(save_latents, "--save-latents");
  gen::OutputPaths paths(output, overwrite);
  const uint64_t base_seed = seed_given ? seed : random_seed();
  std::vector<Job> jobs;
  for (size_t p = 0; p < prompts.size(); p++) jobs.push_back({prompts[p], base_seed + p, int(p)});
  {  // every file name the run will write, before minutes of work
    gen::OutputPaths dry = paths;
    const int written = keep ? keep : batch;
    for (auto& j : jobs)
      for (int k = 0; k < written; k++) dry.next({j.seed, k, best_of ? k + 1 : 0, j.prompt_index});
  }

  gen::HostTensor init_pixels;
  if (!init_image.empty()) init_pixels = gen::read_init_image(init_image, width_arg, height_arg, batch);

  gen::Progress progress(quiet);
  progress.begin("load", 1);
  WeightSet weights = WeightSet::load(model, lopt);
  std::unique_ptr<Tokenizer> tokenizer = load_tokenizer(gen::tokenizer_path(tokenizer_dir, weights));
  Context ctx(copt);
  DType dtype = gen::pick_precision(precision, ctx);
  gen::Pipeline pipe(ctx, weights, *tokenizer, dtype, progress);
  progress.end();

  const int factor = pipe.latent_factor(), step = gen::size_step(weights, factor);
  const int width = init_pixels.shape.empty() ? (width_arg ? width_arg : pipe.default_size()) : int(init_pixels.shape[3]);
  const int height = init_pixels.shape.empty() ? (height_arg ? height_arg : pipe.default_size()) : int(init_pixels.shape[2]);
  for (auto [flag, v] : {std::pair<const char*, int>{"--width", width}, {"--height", height}})
    if (v % step)
      throw Error(std::string(flag) + " " + std::to_string(v) + ": must be a multiple of " + std::to_string(step) +
                  " for this model (try " + std::to_string(std::max(step, (v + step / 2) / step * step)) + ")");
  const Shape latent_shape = {batch, pipe.latent_channels(), height / factor, width / factor};
  gen::HostTensor noise_file;
  if (!init_noise.empty()) noise_file = read_tensor(init_noise, "--init-noise", "noise", latent_shape);

  std::unique_ptr<gen::Reranker> reranker;
  if (best_of) reranker = std::make_unique<gen::Reranker>(ctx, rerank_clip, dtype);

  const bool guidance = cfg != 1.0;
  std::vector<gen::HostTensor> all_latents;
  nlohmann::json files = nlohmann::json::array();
  // Every prompt is encoded first, so the text encoder's memory is free for the UNet.
  std::vector<gen::Conditioning> conds;
  for (const Job& job : jobs)
    conds.push_back(pipe.encode(std::vector<std::string>(size_t(batch), job.prompt),
                                std::vector<std::string>(size_t(batch), negative), guidance, clip_skip));
  pipe.release_text_encoder();
  for (const Job& job : jobs) {
    std::unique_ptr<Scheduler> scheduler = Scheduler::create(gen::scheduler_config(weights), scheduler_name);
    scheduler->set_timesteps(steps);
    scheduler->set_batch_size(size_t(batch));
    TorchGenerator generator(job.seed);
    NoiseSource noise = [&generator](size_t n) { return generator.randn(n); };

    const gen::Conditioning& cond = conds[size_t(job.prompt_index)];
    gen::HostTensor latents;
    size_t first_call = 0;
    if (!init_image.empty()) {
      gen::HostTensor image_latents = pipe.encode_images(init_pixels, generator);
      first_call = scheduler->img2img_first_call(steps, strength);
      gen::HostTensor z = noise_file.values.empty() ? gen::initial_noise(generator, latent_shape) : noise_file;
      latents.shape = latent_shape;
      latents.values = first_call < scheduler->model_calls()
                           ? scheduler->add_noise(image_latents.values, z.values, first_call)
                           : image_latents.values;
      scheduler->begin_at(first_call);
    } else {
      latents = noise_file.values.empty() ? gen::initial_noise(generator, latent_shape) : noise_file;
      for (float& v : latents.values) v *= scheduler->init_noise_sigma();
    }
    latents = pipe.denoise(*scheduler, latents, cond, float(cfg), first_call, noise);
    if (&job == &jobs.back()) pipe.release_unet();  // the decoder gets its memory
    all_latents.push_back(latents);
    gen::HostTensor images = pipe.decode(latents, tiles);

    std::vector<float> scores;
    std::vector<int> order(static_cast<size_t>(batch));
    for (int k = 0; k < batch; k++) order[size_t(k)] = k;
    if (reranker) {
      progress.begin("rerank", 1);
      scores = reranker->scores(images, job.prompt);
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[size_t(a)] > scores[size_t(b)]; });
      progress.end();
    }
    const int written = keep ? keep : batch;
    gen::ImageRecord record;
    record.prompt = job.prompt;
    record.negative_prompt = negative;
    record.steps = steps;
    record.scheduler = scheduler_name.empty() ? scheduler->class_name() : scheduler_name;
    record.cfg_scale = cfg;
    record.seed = job.seed;
    record.width = width;
    record.height = height;
    record.batch = batch;
    record.model = weights.path();
    record.clip_skip = clip_skip;
    record.init_image = init_image;
    record.strength = strength;
    std::vector<std::pair<std::string, int>> to_write;
    for (int r = 0; r < written; r++) {
      const int k = order[size_t(r)];
      to_write.push_back({paths.next({job.seed, k, reranker ? r + 1 : 0, job.prompt_index}), k});
    }
    for (auto& [path, k] : to_write) {
      record.batch_pos = k;
      record.clip_score = scores.empty() ? -1 : scores[size_t(k)];
      gen::write_image_png(path, images, k, record);
      if (!json) std::printf("wrote %s\n", path.c_str());
      files.push_back({{"path", path}, {"seed", job.seed}, {"batch_pos", k}, {"prompt", job.prompt}});
      if (!scores.empty()) files.back()["clip_score"] = scores[size_t(k)];
    }
  }
  if (!save_latents.empty()) write_latents(save_latents, all_latents);
  if (!seed_given && !json) std::printf("seed %llu\n", (unsigned long long)base_seed);
  if (json) {
    nlohmann::json summary = {{"files", files}, {"seed", base_seed}, {"steps", steps}, {"cfg_scale", cfg},
                              {"width", width}, {"height", height}, {"precision", dtype == DType::F16 ? "fp16" : "fp32"},
                              {"device", ctx.info().name}};
    nlohmann::json timings = nlohmann::json::object();
    for (auto& [stage, s] : progress.seconds()) timings[stage] = s;
    timings["total"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    summary["seconds"] = timings;
    std::printf("%s\n", summary.dump().c_str());
  }
  return 0;
}

}  // namespace sdvk::cli
