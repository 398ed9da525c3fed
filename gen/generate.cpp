// `sdvk generate`: text-to-image (and image-to-image) with a Stable Diffusion model.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>

#include <sys/resource.h>

#include "core/error.h"
#include "gen/cli.h"
#include "gen/image_output.h"
#include "gen/manifest.h"
#include "gen/micro_conditioning_flags.h"
#include "gen/model_flags.h"
#include "gen/output_paths.h"
#include "gen/precision_flag.h"
#include "gen/shard.h"
#include "gen/tile_flag.h"
#include "image/image.h"
#include "pipeline/generation_record.h"
#include "pipeline/model_setup.h"
#include "pipeline/pipeline.h"
#include "pipeline/rerank.h"
#include "model/lora.h"
#include "model/safetensors.h"
#include "model/tensor_convert.h"
#include "text_encoder/prompt_weights.h"
#include "vk/memory.h"

namespace sdvk::cli {
namespace {

// The process's peak resident set so far (Linux reports KiB).
uint64_t peak_rss_bytes() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return uint64_t(r.ru_maxrss) * 1024;
}

const char* kGenerateUsage =
    "usage: sdvk generate --prompt TEXT [options]\n"
    "Generates images from a text prompt with a Stable Diffusion model (SD 1.x / 2.x / XL).\n"
    "  --model PATH            diffusers pipeline folder or single-file checkpoint (.safetensors)\n"
    "                          (default: the bundled demo model, models/demo-sd, when present)\n"
    "  --prompt TEXT           what to draw; (word:1.3) / (word) / [word] set emphasis, BREAK starts a\n"
    "                          new 75-token window, longer prompts use several windows\n"
    "  --prompts-file FILE     one prompt per line (empty lines skipped); prompt p uses seed + p\n"
    "  --negative-prompt TEXT  what to steer away from (default empty)\n"
    "  --steps N               scheduler steps (default 25)\n"
    "  --cfg-scale X           classifier-free guidance scale (default 7.5, 5 for SDXL, 3 for the bundled\n"
    "                          demo model; 1 = no guidance, one UNet pass)\n"
    "  --scheduler NAME        ddim, ddpm, dpmpp_2m, dpmpp_2m_karras, euler, euler_a, heun, lcm, lms,\n"
    "                          pndm, unipc (default: the model's scheduler_config.json)\n"
    "  --seed S                64-bit seed (default: random, printed); the starting noise is\n"
    "                          torch.randn([batch,4,h,w]) from torch.Generator().manual_seed(S), as a\n"
    "                          diffusers script with a CPU generator draws it\n"
    "  --width W --height H    image size, multiples of the VAE factor (8 for SD; default: the\n"
    "                          model's native size, 512 for SD 1.5, 1024 for SDXL)\n"
    "  --original-size WxH     SDXL micro-conditioning: the size the image is said to come from\n"
    "                          (default: the image size)\n"
    "  --crop-top-left Y,X     SDXL micro-conditioning: the crop offset it is said to have (default 0,0)\n"
    "  --batch B               images per prompt, drawn as one batch (default 1)\n"
    "  --clip-skip K           condition on the K-th text encoder layer from the end (default 0: the\n"
    "                          last; 1 = penultimate, A1111's \"clip skip 2\")\n"
    "  --precision P           fp16, fp32 or auto (default auto: fp16 where the device stores 16-bit)\n"
    "  --device D              Vulkan device index or name substring\n"
    "  --output PATTERN        PNG path; {n} counter, {seed}, {index}, {rank}, {prompt} placeholders\n"
    "                          (default sdvk-{n}.png); existing files are never overwritten silently\n"
    "  --overwrite             allow replacing existing files named without {n} and --save-latents;\n"
    "                          only regular files are replaced (a symlink is written through)\n"
    "  --shard I/N             with --prompts-file: do only the prompts p with p mod N == I (needs --seed\n"
    "                          and an --output without {n}: seeds and names depend on p alone, so N\n"
    "                          shards write the files one run would)\n"
    "  --skip-existing         resume: skip the prompts whose files all exist (and, with --manifest, are\n"
    "                          listed in it); a prompt with a file missing or unreadable is generated\n"
    "                          again whole, its other files replaced (needs --seed, no {n})\n"
    "  --manifest FILE         append one JSON line per image written: prompt index, prompt, seed, file,\n"
    "                          CLIP score, settings (sdvk score --manifest merges and scores them)\n"
    "  --tile auto|off|N       VAE decode in overlapping tiles of N latent pixels (overlap N/4), blended;\n"
    "                          auto (default) tiles latents over 64 a side or decodes too big for the device\n"
    "  --init-noise FILE       starting noise from a safetensors file (tensor 'noise', [B,4,h,w])\n"
    "  --save-latents FILE     write the final latents (tensor 'latents') to a safetensors file\n"
    "  --init-image FILE       image-to-image: start from this PNG/JPEG (its size is the default output\n"
    "                          size; a different --width/--height is refused)\n"
    "  --strength S            image-to-image (needs --init-image): how much to change it, 0..1 (default 0.8)\n"
    "  --tokenizer DIR         CLIP tokenizer folder (default: the model's, else the bundled one)\n"
    "  --config-override C.KEY=VALUE  set a config value of component C (a key it has; VALUE as JSON or\n"
    "                          a bare word), e.g.\n"
    "                          text_encoder.num_attention_heads=12 (a single-file checkpoint carries no\n"
    "                          config; see sdvk inspect for what was assumed); repeatable\n"
    "  --lora FILE[:WEIGHT]    merge a LoRA (.safetensors, kohya or diffusers/PEFT keys) into the UNet and\n"
    "                          text encoder at WEIGHT (default 1); repeatable. Prompts may also name\n"
    "                          LoRAs as <lora:NAME:WEIGHT>, read from --lora-dir as NAME.safetensors\n"
    "  --lora-dir DIR          the folder <lora:NAME> tags are read from\n"
    "  --lora-lenient          skip LoRA keys that match no layer or do not fit (counted on stderr)\n"
    "                          instead of refusing the file\n"
    "  --best-of N             generate N candidates per prompt and rank them with --rerank-clip\n"
    "  --rerank-clip PATH      CLIP model folder used to score candidates against the prompt\n"
    "                          (default: the bundled demo CLIP, models/demo-clip, when present)\n"
    "  --keep K                with --best-of: write only the K best (default: all, ranked)\n"
    "  --quiet                 no progress bars\n"
    "  --json                  print one JSON summary line (files, seeds, scores, timings) on stdout\n";

struct Job {
  std::string prompt;  // as given: what the PNG record states
  std::string text;    // without <lora:...> tags: what is encoded and scored
  uint64_t seed = 0;
  int prompt_index = 0;
};

// The prompts of --prompts-file, each checked as check_prompt_text does.
std::vector<std::string> read_prompts_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error("--prompts-file " + path + ": is a folder, not a file");
  std::ifstream in(path);
  if (!in) throw Error("--prompts-file " + path + ": cannot read the file");
  std::vector<std::string> prompts;
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    check_prompt_text(line, "--prompts-file " + path + " line " + std::to_string(line_no));
    prompts.push_back(line);
  }
  if (prompts.empty()) throw Error("--prompts-file " + path + ": no prompts in the file");
  return prompts;
}

HostTensor read_tensor(const std::string& path, const std::string& flag, const std::string& name,
                            const Shape& expected) {
  SafetensorsFile file(path);
  const TensorInfo* t = file.find(name);
  if (!t) throw Error(flag + " " + path + ": no tensor '" + name + "'");
  Shape shape(t->shape.begin(), t->shape.end());
  if (shape != expected)
    throw Error(flag + " " + path + ": '" + name + "' is " + shape_str(shape) + ", expected " + shape_str(expected));
  return {shape, to_f32(*t)};
}

void write_latents(const std::string& path, const std::vector<HostTensor>& latents) {
  // All prompts' latents, stacked on the batch axis.
  HostTensor all{latents.front().shape, {}};
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

constexpr double kDemoModelCfgScale = 3.0;

// The flags of one run, each checked on its own. What the PNG records state goes straight into
// `record` (its prompt, seed, size, model and scheduler name are the job's, set per prompt).
struct Request {
  ContextOptions device;
  LoadOptions load;
  pipeline::GenerationRecord record;
  std::string model, prompt, prompts_file, output;
  std::string init_noise, save_latents, tokenizer_dir, rerank_clip, lora_dir, manifest;
  gen::Shard shard;  // 0/1 unless --shard
  std::vector<LoraSpec> loras;  // --lora, in order
  Precision precision = Precision::Auto;  // resolved to a DType once the device is known
  vae::TileOptions tiles;
  MicroConditioning micro;  // SDXL only
  int width = 0, height = 0, best_of = 0, keep = 0;
  uint64_t seed = 0;
  bool seed_given = false, strength_given = false, quiet = false, json = false, overwrite = false;
  bool lora_lenient = false, cfg_given = false, sharded = false, skip_existing = false;
};

// --shard and --skip-existing need a run whose seeds and file names depend on the prompt alone.
void check_resumable(const Request& r) {
  if (r.sharded && r.prompts_file.empty())
    throw Error("generate: --shard needs --prompts-file (it splits the file's prompts)");
  if (!r.sharded && !r.skip_existing) return;
  const std::string flag = r.sharded ? "--shard" : "--skip-existing";
  if (r.skip_existing && r.overwrite) throw Error("generate: --skip-existing and --overwrite exclude each other");
  if (!r.seed_given)
    throw Error("generate: " + flag + " needs --seed S (every shard and every rerun must draw the same seeds)");
  if (r.output.find("{n}") != std::string::npos)
    throw Error("generate: " + flag + ": --output " + r.output + " numbers files with {n} in the order they are "
                "written, which differs between shards and reruns; name them by {prompt} and {index} (or {rank}), "
                "e.g. --output out/p{prompt}-{index}.png");
  if (!r.save_latents.empty())
    throw Error("generate: " + flag + ": --save-latents stacks every prompt's latents in one file; leave it out");
  if (r.skip_existing && r.best_of && r.output.find("{index}") != std::string::npos)
    throw Error("generate: --skip-existing: with --best-of, which {index} is written depends on the ranking, so "
                "whether a prompt is done cannot be told from its names; name the files by {rank}");
}

Request parse_request(Args& args) {
  Request r;
  r.device.device = args.take("--device");
  r.model = args.take("--model");
  r.prompt = args.take("--prompt");
  r.prompts_file = args.take("--prompts-file");
  r.record.negative_prompt = args.take_text("--negative-prompt");
  r.record.scheduler = args.take("--scheduler");
  const std::string precision = take_precision(args);
  r.output = args.take("--output", "sdvk-{n}.png");
  r.init_noise = args.take("--init-noise");
  r.save_latents = args.take("--save-latents");
  r.record.init_image = args.take("--init-image");
  r.tokenizer_dir = args.take("--tokenizer");
  r.rerank_clip = args.take("--rerank-clip");
  for (const std::string& spec : args.take_all("--lora")) {
    try {
      r.loras.push_back(parse_lora_spec(spec));
    } catch (const Error& e) {
      throw Error("--lora " + spec + ": " + e.what());
    }
  }
  r.lora_dir = args.take("--lora-dir");
  r.lora_lenient = args.take_flag("--lora-lenient");
  r.tiles = parse_tile_flag(args.take("--tile", "auto"));
  for (const std::string& spec : args.take_all("--config-override"))
    gen::add_config_override(&r.load.config_overrides, spec, "");
  r.record.steps = args.take_int("--steps", 25, 1, 1000);
  // diffusers' 7.5 for checkpoints; the bundled demo model (no --model) uses 3 (train/adherence.py:
  // the first demo model 34% whole prompt at 3, 25% at 5; unet_zbind2 as good at 3 as at 5).
  r.record.cfg_scale =
      args.take_double("--cfg-scale", r.model.empty() ? kDemoModelCfgScale : 7.5, 0.0, 100.0, &r.cfg_given);
  r.micro = take_micro_conditioning(args);
  r.record.strength = args.take_double("--strength", 0.8, 0.0, 1.0, &r.strength_given);
  r.seed = args.take_u64("--seed", 0, &r.seed_given);
  r.width = args.take_int("--width", 0, 8, 16384);
  r.height = args.take_int("--height", 0, 8, 16384);
  r.record.batch = args.take_int("--batch", 1, 1, 64);
  r.record.clip_skip = args.take_int("--clip-skip", 0, 0, 64);
  r.best_of = args.take_int("--best-of", 0, 1, 64);
  r.keep = args.take_int("--keep", 0, 1, 64);
  r.quiet = args.take_flag("--quiet");
  r.json = args.take_flag("--json");
  r.overwrite = args.take_flag("--overwrite");
  const std::string shard = args.take("--shard");
  r.skip_existing = args.take_flag("--skip-existing");
  r.manifest = args.take("--manifest");
  args.expect_empty();

  if (r.prompt.empty() == r.prompts_file.empty())
    throw Error(r.prompt.empty() ? "generate: --prompt or --prompts-file is required (see --help)"
                                 : "generate: give --prompt or --prompts-file, not both");
  r.precision = check_precision(args.command(), precision);
  const auto& names = Scheduler::names();
  if (!r.record.scheduler.empty() && std::find(names.begin(), names.end(), r.record.scheduler) == names.end())
    Scheduler::create(nlohmann::json::object(), r.record.scheduler);  // throws, listing the names
  if (!r.rerank_clip.empty() && !r.best_of) throw Error("generate: --rerank-clip needs --best-of N");
  if (r.keep && !r.best_of) throw Error("generate: --keep needs --best-of N");
  if (r.strength_given && r.record.init_image.empty()) throw Error("generate: --strength needs --init-image FILE");
  if (!r.prompt.empty()) check_prompt_text(r.prompt, "--prompt");
  check_prompt_text(r.record.negative_prompt, "--negative-prompt");
  if (r.keep > r.best_of && r.best_of) throw Error("generate: --keep " + std::to_string(r.keep) + " is more than --best-of");
  if (r.best_of && r.record.batch != 1) throw Error("generate: --best-of N sets the batch; leave --batch out");
  if (r.best_of) r.record.batch = r.best_of;
  if (!shard.empty()) {
    r.shard = gen::parse_shard(shard);
    r.sharded = true;
  }
  check_resumable(r);
  if (r.best_of && r.rerank_clip.empty()) r.rerank_clip = gen::default_model_path("--rerank-clip", "demo-clip");
  if (r.model.empty()) r.model = gen::default_model_path("--model", "demo-sd");
  // Known before the model loads, so --skip-existing compares the guidance the run will use.
  if (!r.cfg_given && pipeline::looks_like_sdxl(r.model)) r.record.cfg_scale = 5.0;  // StableDiffusionXLPipeline's
  if (!r.seed_given) r.seed = random_seed();
  return r;
}

// Image k of a batch, the order it is written in (best first when reranked) and its score.
struct Ranking {
  std::vector<int> order;
  std::vector<float> scores;  // empty when not reranked
};

Ranking rank(pipeline::Reranker* reranker, const HostTensor& images, const std::string& prompt,
             pipeline::Progress& progress) {
  Ranking r;
  const int batch = int(images.shape.at(0));
  for (int k = 0; k < batch; k++) r.order.push_back(k);
  if (!reranker) return r;
  progress.begin("rerank", 1);
  r.scores = reranker->scores(images, prompt);
  std::stable_sort(r.order.begin(), r.order.end(), [&](int a, int b) { return r.scores[size_t(a)] > r.scores[size_t(b)]; });
  progress.end();
  return r;
}

// The starting latent of a job: noise times init_noise_sigma, or for img2img the encoded image
// noised to the first call's timestep (diffusers draws the VAE sample first, then the noise).
HostTensor starting_latents(pipeline::Pipeline& pipe, Scheduler& scheduler, const Request& req, const Shape& shape,
                            const HostTensor& noise_file, const HostTensor& init_pixels, TorchGenerator& generator,
                            size_t* first_call) {
  *first_call = 0;
  if (req.record.init_image.empty()) {
    HostTensor latents = noise_file.values.empty() ? pipeline::initial_noise(generator, shape) : noise_file;
    for (float& v : latents.values) v *= scheduler.init_noise_sigma();
    return latents;
  }
  HostTensor image_latents = pipe.encode_images(init_pixels, generator);
  *first_call = scheduler.img2img_first_call(req.record.steps, req.record.strength);
  HostTensor z = noise_file.values.empty() ? pipeline::initial_noise(generator, shape) : noise_file;
  if (*first_call < scheduler.model_calls())
    image_latents.values = scheduler.add_noise(image_latents.values, z.values, *first_call);
  scheduler.begin_at(*first_call);
  return image_latents;
}

// One job per prompt, prompt p seeded with seed + p, its <lora:...> tags taken out. The
// weights are merged once per run, so every prompt must name the same LoRAs; they are appended
// to *loras (after --lora's).
std::vector<Job> make_jobs(const Request& req, std::vector<LoraSpec>* loras) {
  std::vector<std::string> prompts =
      req.prompts_file.empty() ? std::vector<std::string>{req.prompt} : read_prompts_file(req.prompts_file);
  std::vector<Job> jobs;
  std::vector<LoraSpec> first;
  for (size_t p = 0; p < prompts.size(); p++) {
    const std::string where = req.prompts_file.empty() ? "--prompt" : "--prompts-file prompt " + std::to_string(p + 1);
    Job job{prompts[p], prompts[p], req.seed + p, int(p)};
    std::vector<LoraSpec> tags;
    try {
      tags = take_prompt_loras(job.text, req.lora_dir);
    } catch (const Error& e) {
      throw Error(where + ": " + e.what());
    }
    auto same = [](const LoraSpec& a, const LoraSpec& b) { return a.path == b.path && a.weight == b.weight; };
    if (p == 0)
      first = tags;
    else if (!std::equal(tags.begin(), tags.end(), first.begin(), first.end(), same))
      throw Error(where + ": names other LoRAs (<lora:...> tags) than prompt 1; the weights are merged once per "
                  "run, so run such prompts separately");
    jobs.push_back(job);
  }
  loras->insert(loras->end(), first.begin(), first.end());
  return jobs;
}

// Images written per prompt: --keep of a --best-of, else the whole batch.
int images_written(const Request& req) { return req.keep ? req.keep : req.record.batch; }

// The output paths, after checking every file name the run will write, before minutes of work.
// With --shard, every prompt's names are checked to differ (two shards must not write one file),
// and only this shard's for existing files (the other shards may have written theirs).
gen::OutputPaths check_outputs(const Request& req, const std::vector<Job>& jobs) {
  if (!req.save_latents.empty()) gen::check_output_file(req.save_latents, "--save-latents", req.overwrite);
  gen::OutputPaths paths(req.output, req.overwrite || req.skip_existing);
  gen::OutputPaths dry = paths, all_shards(req.output, true);
  for (auto& j : jobs)
    for (int k = 0; k < images_written(req); k++) {
      const gen::OutputFields fields{j.seed, k, req.best_of ? k + 1 : 0, j.prompt_index};
      if (req.sharded) all_shards.next(fields);
      if (!req.shard.has(j.prompt_index)) continue;
      std::error_code ec;  // a shard's files exist when it ran before: say how to resume
      if (req.sharded && !req.overwrite && !req.skip_existing && std::filesystem::exists(dry.name(fields), ec))
        throw Error("--output " + dry.name(fields) + ": file exists (pass --skip-existing to resume the shard)");
      dry.next(fields);
    }
  return paths;
}

// Whether an earlier run wrote all of this job's files (each a readable PNG, and each listed in
// the manifest when there is one). A file that is there but unreadable (cut short by a lost node)
// makes the job be done again; a readable one of another prompt, seed or settings is an Error:
// replacing it could destroy another run's work.
bool job_done(const Request& req, const Job& job, const gen::OutputPaths& paths, const std::set<std::string>& listed) {
  bool done = true;
  for (int r = 0; r < images_written(req); r++) {
    const std::string path = paths.name({job.seed, r, req.best_of ? r + 1 : 0, job.prompt_index});
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      done = false;
      continue;
    }
    std::map<std::string, std::string> text;
    GenerationParameters p;
    try {
      read_image(path, &text);
      p = parse_parameters(text.count("parameters") ? text.at("parameters") : "");
    } catch (const Error& e) {
      if (!req.quiet) std::fprintf(stderr, "note: %s is unreadable, generated again (%s)\n", path.c_str(), e.what());
      done = false;
      continue;
    }
    if (p.prompt != job.prompt || p.seed != job.seed || p.steps != req.record.steps ||
        p.cfg_scale != req.record.cfg_scale || p.negative_prompt != req.record.negative_prompt)
      throw Error("--skip-existing: " + path + " holds another image than prompt " +
                  std::to_string(job.prompt_index + 1) +
                  " of this run would write (its prompt, seed, steps or guidance differ); move it away or write to "
                  "another folder");
    if (!req.manifest.empty() && !listed.count(path)) done = false;
  }
  return done;
}

// This shard's jobs, less those --skip-existing finds done (counted in *skipped).
std::vector<Job> jobs_to_run(const Request& req, const std::vector<Job>& all, const gen::OutputPaths& paths,
                             int* skipped) {
  std::set<std::string> listed;  // the files the manifest names
  if (req.skip_existing && !req.manifest.empty())
    for (const gen::ManifestLine& m : gen::read_manifest(req.manifest)) listed.insert(m.file);
  std::vector<Job> jobs;
  *skipped = 0;
  for (const Job& job : all) {
    if (!req.shard.has(job.prompt_index)) continue;
    if (req.skip_existing && job_done(req, job, paths, listed))
      ++*skipped;
    else
      jobs.push_back(job);
  }
  if ((req.sharded || req.skip_existing) && !req.quiet)
    std::fprintf(stderr, "shard %d/%d: %zu of %zu prompts, %d done already\n", req.shard.index, req.shard.count,
                 jobs.size() + size_t(*skipped), all.size(), *skipped);
  return jobs;
}

// The model's weights, after checking what can be checked without the device: the scheduler
// config, and that every prompt fits the tokenizer's windows. Sets *tokenizer when not given.
WeightSet load_model(const Request& req, const std::vector<Job>& jobs, const std::vector<LoraSpec>& loras,
                     std::unique_ptr<Tokenizer>* tokenizer, std::unique_ptr<Tokenizer>* tokenizer_2) {
  WeightSet weights = WeightSet::load(req.model, req.load);
  for (const LoraApplied& a : apply_loras(weights, loras, req.lora_lenient))
    if (!a.skipped.empty())
      std::fprintf(stderr, "warning: %s: skipped %zu keys (--lora-lenient), first: %s\n", a.path.c_str(),
                   a.skipped.size(), a.skipped.front().c_str());
  try {  // the scheduler config is checked now, not after the text encoder ran
    Scheduler::create(pipeline::scheduler_config(weights), req.record.scheduler)->set_timesteps(req.record.steps);
  } catch (const Error& e) {
    throw Error(weights.path() + ": " + e.what());
  }
  if (!*tokenizer) *tokenizer = load_tokenizer(pipeline::tokenizer_path(weights));
  if (weights.has("text_encoder_2")) *tokenizer_2 = load_tokenizer(pipeline::tokenizer_2_path(weights));
  if (req.micro.given && !weights.has("text_encoder_2"))
    throw Error("--original-size / --crop-top-left: only SDXL models take micro-conditioning (" + weights.path() +
                " is " + weights.family() + ")");
  for (const Job& job : jobs) {  // a prompt over the window limit is refused before the device starts
    try {
      encode_weighted_prompt(**tokenizer, job.text);
    } catch (const Error& e) {
      throw Error((req.prompts_file.empty() ? "--prompt" : "--prompts-file prompt " + std::to_string(job.prompt_index + 1)) +
                  ": " + e.what());
    }
  }
  try {
    encode_weighted_prompt(**tokenizer, req.record.negative_prompt);
  } catch (const Error& e) {
    throw Error(std::string("--negative-prompt: ") + e.what());
  }
  return weights;
}

struct ImageSize {
  int width = 0, height = 0;
};

// The init image's size, else --width/--height, else the model's native size. Any multiple of
// the VAE factor, as diffusers: the UNet upsamples to odd skip sizes.
ImageSize image_size(const Request& req, const pipeline::Pipeline& pipe, const HostTensor& init_pixels) {
  const int step = pipe.latent_factor();
  const bool from_image = !init_pixels.shape.empty();
  ImageSize size;
  size.width = from_image ? int(init_pixels.shape[3]) : req.width ? req.width : pipe.default_size();
  size.height = from_image ? int(init_pixels.shape[2]) : req.height ? req.height : pipe.default_size();
  for (auto [flag, v] : {std::pair<const char*, int>{"--width", size.width}, {"--height", size.height}})
    if (v % step)
      throw Error(std::string(flag) + " " + std::to_string(v) + ": must be a multiple of " + std::to_string(step) +
                  " for this model (try " + std::to_string(std::max(step, (v + step / 2) / step * step)) + ")");
  return size;
}

std::unique_ptr<pipeline::Reranker> open_reranker(Context& ctx, const Request& req, DType dtype) {
  if (!req.best_of) return nullptr;
  try {
    return std::make_unique<pipeline::Reranker>(ctx, req.rerank_clip, dtype);
  } catch (const Error& e) {
    throw Error(std::string("--rerank-clip: ") + e.what());
  }
}

// Every prompt's conditioning, encoded before any denoising so the text encoder's memory can be
// freed for the UNet.
std::vector<pipeline::Conditioning> encode_prompts(pipeline::Pipeline& pipe, const Request& req,
                                                   const std::vector<Job>& jobs) {
  const bool guidance = req.record.cfg_scale != 1.0;
  const int batch = req.record.batch, clip_skip = req.record.clip_skip;
  pipe.check_clip_skip(clip_skip, "--clip-skip");
  std::vector<pipeline::Conditioning> conds;
  for (const Job& job : jobs)
    conds.push_back(pipe.encode(std::vector<std::string>(size_t(batch), job.text),
                                std::vector<std::string>(size_t(batch), req.record.negative_prompt), guidance, clip_skip));
  return conds;
}

// A fresh scheduler for one prompt's batch.
std::unique_ptr<Scheduler> make_scheduler(const WeightSet& weights, const Request& req) {
  std::unique_ptr<Scheduler> scheduler = Scheduler::create(pipeline::scheduler_config(weights), req.record.scheduler);
  scheduler->set_timesteps(req.record.steps);
  scheduler->set_batch_size(size_t(req.record.batch));
  return scheduler;
}

// The final latents of one prompt's batch.
HostTensor denoise_job(pipeline::Pipeline& pipe, Scheduler& scheduler, const Request& req, const Job& job,
                       const pipeline::Conditioning& cond, const Shape& latent_shape, const HostTensor& noise_file,
                       const HostTensor& init_pixels) {
  TorchGenerator generator(job.seed);  // diffusers hands one generator to noise and scheduler
  NoiseSource noise = [&generator](size_t n) { return generator.randn(n); };
  size_t first_call = 0;
  HostTensor latents =
      starting_latents(pipe, scheduler, req, latent_shape, noise_file, init_pixels, generator, &first_call);
  return pipe.denoise(scheduler, latents, cond, float(req.record.cfg_scale), first_call, noise);
}

// The request's record completed with what this prompt's images share.
pipeline::GenerationRecord job_record(const Request& req, const Job& job, ImageSize size, const std::string& model,
                                      const pipeline::ModelHashes& hashes, const std::string& scheduler_class) {
  pipeline::GenerationRecord record = req.record;
  record.model_hash = hashes.model;
  record.lora_hashes = hashes.loras;
  record.prompt = job.prompt;
  record.seed = job.seed;
  record.width = size.width;
  record.height = size.height;
  record.model = model;
  if (record.scheduler.empty()) record.scheduler = scheduler_class;
  return record;
}

// What every manifest line states of the run (gen/manifest.h): the request's settings, with the
// size, model and scheduler as resolved for `record`.
nlohmann::json run_settings(const Request& req, const pipeline::GenerationRecord& record,
                            const std::vector<LoraSpec>& loras, DType dtype, size_t prompt_count) {
  nlohmann::json s = {{"model", record.model},
                      {"prompt_count", prompt_count},
                      {"negative_prompt", record.negative_prompt},
                      {"scheduler", record.scheduler},
                      {"steps", record.steps},
                      {"cfg_scale", record.cfg_scale},
                      {"width", record.width},
                      {"height", record.height},
                      {"batch", record.batch},
                      {"clip_skip", record.clip_skip},
                      {"base_seed", req.seed},
                      {"precision", dtype == DType::F16 ? "fp16" : "fp32"}};
  if (!record.model_hash.empty()) s["model_hash"] = record.model_hash;
  for (const LoraSpec& l : loras) s["loras"].push_back({{"path", l.path}, {"weight", l.weight}});
  if (!record.init_image.empty()) {
    s["init_image"] = record.init_image;
    s["strength"] = record.strength;
  }
  if (req.best_of) {
    s["best_of"] = req.best_of;
    s["rerank_clip"] = req.rerank_clip;
  }
  return s;
}

// Writes the ranked images of one prompt (all names first: a clash writes nothing), adds each
// to `files`, the JSON summary's list, and appends its line to the manifest, if any.
void write_images(const HostTensor& images, const Ranking& ranking, const pipeline::GenerationRecord& record,
                  const Job& job, const Request& req, bool reranked, gen::OutputPaths& paths, nlohmann::json* files,
                  gen::ManifestWriter* manifest, const nlohmann::json& settings) {
  std::vector<std::pair<std::string, int>> to_write;
  for (int r = 0; r < images_written(req); r++) {
    const int k = ranking.order[size_t(r)];
    to_write.push_back({paths.next({job.seed, k, reranked ? r + 1 : 0, job.prompt_index}), k});
  }
  for (size_t r = 0; r < to_write.size(); r++) {
    const auto& [path, k] = to_write[r];
    gen::write_image_png(path, images, k, record.parameters(k, ranking.scores.empty() ? -1 : ranking.scores[size_t(k)]));
    if (!req.json) std::printf("wrote %s\n", path.c_str());
    files->push_back({{"path", path}, {"seed", job.seed}, {"batch_pos", k}, {"prompt", job.prompt}});
    if (!ranking.scores.empty()) files->back()["clip_score"] = ranking.scores[size_t(k)];
    if (!manifest) continue;
    nlohmann::json line = settings;
    line.update({{"prompt_index", job.prompt_index}, {"batch_pos", k}, {"prompt", job.prompt}, {"seed", job.seed},
                 {"file", path}});
    if (reranked) {
      line["rank"] = r + 1;
      line["clip_score"] = ranking.scores[size_t(k)];
    }
    manifest->append(line);
  }
}

// The --json line: files, settings, stage times, memory and queue submissions.
void print_summary(const Request& req, const nlohmann::json& files, int skipped, const std::vector<LoraSpec>& loras,
                   ImageSize size, DType dtype, Context& ctx, const pipeline::Pipeline& pipe,
                   const pipeline::Progress& progress, std::chrono::steady_clock::time_point t_start) {
  nlohmann::json summary = {{"files", files},
                            {"seed", req.seed},
                            {"steps", req.record.steps},
                            {"cfg_scale", req.record.cfg_scale},
                            {"width", size.width},
                            {"height", size.height},
                            {"precision", dtype == DType::F16 ? "fp16" : "fp32"},
                            {"device", ctx.info().name}};
  if (req.skip_existing) summary["skipped_prompts"] = skipped;
  summary["loras"] = nlohmann::json::array();
  for (const LoraSpec& l : loras) summary["loras"].push_back({{"path", l.path}, {"weight", l.weight}});
  nlohmann::json timings = nlohmann::json::object();
  for (auto& [stage, seconds] : progress.seconds()) timings[stage] = seconds;
  timings["total"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  summary["seconds"] = timings;
  summary["memory"] = {{"peak_device_bytes", ctx.allocator().peak_bytes_in_use()}, {"peak_rss_bytes", peak_rss_bytes()}};
  summary["queue_submissions"] = {{"total", ctx.submissions()},
                                  {"denoise", pipe.denoise_stats().submissions},
                                  {"denoise_calls", pipe.denoise_stats().calls}};
  std::printf("%s\n", summary.dump().c_str());
}

}  // namespace

int cmd_generate(Args& args) {
  if (args.take_flag("--help")) {
    std::fputs(kGenerateUsage, stdout);
    return 0;
  }
  const auto t_start = std::chrono::steady_clock::now();
  Request req = parse_request(args);
  // Everything about the request is checked before any model is loaded.
  std::vector<LoraSpec> loras = req.loras;
  const std::vector<Job> all_jobs = make_jobs(req, &loras);
  gen::OutputPaths paths = check_outputs(req, all_jobs);
  if (!req.init_noise.empty() && !SafetensorsFile(req.init_noise).find("noise"))  // its shape is checked after load
    throw Error("--init-noise " + req.init_noise + ": no tensor 'noise'");
  HostTensor init_pixels;
  if (!req.record.init_image.empty())
    init_pixels = gen::read_init_image(req.record.init_image, req.width, req.height, req.record.batch);
  std::unique_ptr<Tokenizer> tokenizer;  // a given --tokenizer is checked before the model loads
  if (!req.tokenizer_dir.empty()) tokenizer = load_tokenizer(req.tokenizer_dir);
  std::unique_ptr<gen::ManifestWriter> manifest;  // opened first: it may cut a line a killed run left
  if (!req.manifest.empty()) manifest = std::make_unique<gen::ManifestWriter>(req.manifest);
  int skipped = 0;
  const std::vector<Job> jobs = jobs_to_run(req, all_jobs, paths, &skipped);
  if (jobs.empty()) {  // nothing left to do: no model is loaded
    if (req.json)
      std::printf("%s\n", nlohmann::json({{"files", nlohmann::json::array()}, {"seed", req.seed},
                                          {"skipped_prompts", skipped}}).dump().c_str());
    return 0;
  }

  pipeline::Progress progress(req.quiet);
  progress.begin("load", 1);
  std::unique_ptr<Tokenizer> tokenizer_2;
  WeightSet weights = load_model(req, all_jobs, loras, &tokenizer, &tokenizer_2);
  const pipeline::ModelHashes hashes = pipeline::model_hashes(req.model, loras);
  Context ctx(req.device);
  const DType dtype = precision_dtype(req.precision, ctx);
  pipeline::Pipeline pipe(ctx, weights, *tokenizer, dtype, progress, tokenizer_2.get());
  progress.end();

  const ImageSize size = image_size(req, pipe, init_pixels);
  const int factor = pipe.latent_factor();
  const Shape latent_shape = {req.record.batch, pipe.latent_channels(), size.height / factor, size.width / factor};
  HostTensor noise_file;
  if (!req.init_noise.empty()) noise_file = read_tensor(req.init_noise, "--init-noise", "noise", latent_shape);
  std::unique_ptr<pipeline::Reranker> reranker = open_reranker(ctx, req, dtype);

  std::vector<pipeline::Conditioning> conds = encode_prompts(pipe, req, jobs);
  if (pipe.is_sdxl())
    for (pipeline::Conditioning& c : conds) c.time_ids = req.micro.time_ids(size.width, size.height);
  pipe.release_text_encoder();

  std::vector<HostTensor> all_latents;
  nlohmann::json files = nlohmann::json::array();
  for (size_t i = 0; i < jobs.size(); i++) {
    const Job& job = jobs[i];
    std::unique_ptr<Scheduler> scheduler = make_scheduler(weights, req);
    if (i == 0 && scheduler->ignores_zero_snr())
      std::fprintf(stderr,
                   "warning: %s does not apply the model's rescale_betas_zero_snr (nor does diffusers "
                   "0.21.4; only ddim and lcm do): sampling starts from a latent the model was not trained on\n",
                   scheduler->class_name().c_str());
    HostTensor latents = denoise_job(pipe, *scheduler, req, job, conds[i], latent_shape, noise_file, init_pixels);
    if (&job == &jobs.back()) pipe.release_unet();  // the decoder gets its memory
    all_latents.push_back(latents);
    HostTensor images = pipe.decode(latents, req.tiles);
    Ranking ranking = rank(reranker.get(), images, job.text, progress);
    const pipeline::GenerationRecord record =
        job_record(req, job, size, weights.path(), hashes, scheduler->class_name());
    write_images(images, ranking, record, job, req, reranker != nullptr, paths, &files, manifest.get(),
                 manifest ? run_settings(req, record, loras, dtype, all_jobs.size()) : nlohmann::json());
  }
  if (!req.save_latents.empty()) write_latents(req.save_latents, all_latents);
  if (!req.seed_given && !req.json) std::printf("seed %llu\n", (unsigned long long)req.seed);
  if (req.json) print_summary(req, files, skipped, loras, size, dtype, ctx, pipe, progress, t_start);
  return 0;
}

}  // namespace sdvk::cli
