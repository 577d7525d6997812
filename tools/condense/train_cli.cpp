#include "train_cli.h"

#include <condense/file.h>
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "common.h"

namespace condense::cli {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

// "trained.onnx" -> "trained.ckpt.npz"
std::string default_checkpoint(const std::string& output) {
  std::filesystem::path p(output);
  p.replace_extension(".ckpt.npz");
  return p.string();
}

Status check_writable_dir(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return Status::errorf("cannot write '{}': folder '{}' does not exist", path, dir.string());
  return Status::ok();
}

nlohmann::json eval_json(const train::EvalResult& r) {
  return {{"accuracy", r.accuracy()},
          {"top5", r.top5_accuracy()},
          {"loss", r.loss},
          {"count", r.count}};
}

}  // namespace

std::string percent(double x) {
  return fmt::format("{:.2f}%", 100.0 * x);
}

void add_train_options(CLI::App* c, TrainCliArgs& a, bool with_freeze_bn) {
  c->add_option("model", a.model, "input model (.onnx)")->required();
  c->add_option("--data", a.data,
                "training data: mnist:DIR, fashion-mnist[:DIR], cifar10:PATH, "
                "imagefolder:PATH[:SUB], npz:PATH")
      ->required();
  c->add_option("-o,--output", a.output, "trained model (.onnx)")->required();
  c->add_option("--val", a.val,
                "validation data after every epoch (default: the test split of "
                "--data; 'none': skip)");
  c->add_option("--epochs", a.epochs, "epochs")->check(CLI::Range(int64_t{1}, int64_t{100000}));
  c->add_option("--batch", a.batch, "batch size")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  c->add_option("--opt", a.opt, "optimizer: sgd, adam, adamw");
  c->add_option("--lr", a.lr, "learning rate")->check(CLI::PositiveNumber);
  c->add_option("--momentum", a.momentum, "SGD momentum")->check(CLI::Range(0.0, 1.0));
  c->add_flag("--nesterov", a.nesterov, "Nesterov momentum (SGD)");
  c->add_option("--weight-decay", a.weight_decay,
                "weight decay (L2 for sgd/adam, "
                "decoupled for adamw)");
  c->add_option("--schedule", a.schedule,
                "learning-rate schedule: constant, step:N[:G], multistep:M1,M2[:G], "
                "cosine, onecycle, warmup:STEPS,<schedule>");
  c->add_option("--loss", a.loss, "loss: ce[:SMOOTHING], nll, mse, ...");
  c->add_option("--train", a.train_regex, "train only initializers matching (regex)");
  c->add_option("--freeze", a.freeze_regex, "freeze initializers matching (regex)");
  if (with_freeze_bn)
    c->add_flag("--freeze-bn", a.freeze_bn, "keep batch-norm running statistics fixed");
  c->add_option("--clip-norm", a.clip_norm, "clip the gradients' total L2 norm")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--clip-value", a.clip_value, "clip every gradient element")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--augment", a.augment, "augmentation: crop4, flip, crop4,flip");
  c->add_option("--normalize", a.normalize,
                "imagenet, cifar10, mnist, unit, raw, or MEAN/STD (default: by data)");
  c->add_option("--seed", a.seed, "seed for order, augmentation and dropout");
  c->add_option("--threads", a.threads, "compute threads (0: all cores)")
      ->check(CLI::Range(0, 1024));
  c->add_option("--checkpoint", a.checkpoint,
                "checkpoint file (default: OUTPUT with .ckpt.npz; 'none': off)");
  c->add_option("--resume", a.resume, "continue from a checkpoint");
  c->add_flag("--json", a.json, "one JSON object per epoch on stdout");
  c->add_option("--limit", a.limit, "use only the first N training samples")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--val-limit", a.val_limit, "use only the first N validation samples")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--input", a.input, "the model's data input (default: its only input)");
  c->add_option("--logits", a.logits, "the model output holding logits (default: first)");
}

Result<std::string> check_train_paths(const TrainCliArgs& a) {
  if (!a.resume.empty() && !std::filesystem::exists(a.resume))
    return Status::errorf("--resume: checkpoint '{}' does not exist", a.resume);
  if (same_file(a.output, a.model))
    return Status::errorf("-o '{}' is the input model; write the result elsewhere", a.output);
  CONDENSE_TRY(check_writable_dir(a.output));
  const std::string checkpoint = a.checkpoint.empty() ? default_checkpoint(a.output) : a.checkpoint;
  if (checkpoint == "none") return std::string();
  CONDENSE_TRY(check_writable_dir(checkpoint));
  return checkpoint;
}

Result<train::TrainerOptions> build_trainer_options(const TrainCliArgs& a) {
  train::TrainerOptions topts;
  auto loss = train::parse_loss(a.loss);
  if (!loss) return loss.status().with_context("--loss");
  topts.loss = *loss;
  topts.params = {a.train_regex, a.freeze_regex};
  auto kind = train::parse_optimizer_kind(a.opt);
  if (!kind) return kind.status().with_context("--opt");
  topts.optimizer.kind = *kind;
  topts.optimizer.lr = a.lr;
  topts.optimizer.momentum = a.momentum;
  topts.optimizer.nesterov = a.nesterov;
  topts.optimizer.weight_decay = a.weight_decay;
  auto sched = train::parse_schedule(a.schedule);
  if (!sched) return sched.status().with_context("--schedule");
  topts.schedule = *sched;
  topts.clip_norm = a.clip_norm;
  topts.clip_value = a.clip_value;
  topts.batchnorm_training = !a.freeze_bn;
  topts.threads = a.threads;
  topts.input = a.input;
  topts.output = a.logits;
  return topts;
}

Result<TrainData> open_train_data(const TrainCliArgs& a, const ir::Graph& model) {
  TrainData d;
  auto train_data = open_data(a.data, data::Split::Train, a.normalize, model, a.limit);
  if (!train_data) return train_data.status().with_context("--data");
  d.train = std::move(*train_data);
  std::string val_spec = a.val;
  if (val_spec.empty()) {
    // The test split of the same data, where the format has one; image folders need --val.
    auto spec = data::parse_dataset_spec(a.data);
    val_spec = spec && spec->kind != "imagefolder" ? a.data : "none";
  }
  if (val_spec != "none") {
    auto v = open_data(val_spec, data::Split::Test, d.train.normalize, model, a.val_limit);
    if (!v) return v.status().with_context("--val");
    d.val = std::move(v->dataset);
  }
  auto augment = data::parse_augment(a.augment);
  if (!augment) return augment.status().with_context("--augment");
  d.augment = *augment;
  return d;
}

std::optional<int> run_fit(train::Trainer& t, const TrainCliArgs& a, TrainData& d,
                           const std::string& checkpoint) {
  train::FitOptions fopts;
  fopts.epochs = a.epochs;
  fopts.batch_size = a.batch;
  fopts.seed = a.seed;
  fopts.augment = d.augment;
  fopts.checkpoint = checkpoint;
  fopts.resume = a.resume;
  fopts.interrupt = &g_interrupted;
  fopts.run_description = fmt::format("{} normalize {}", a.data, d.train.normalize);

  ProgressLine progress(stderr);
  train::FitCallbacks cb;
  cb.on_message = [&](const std::string& msg) { fmt::print(stderr, "{}\n", msg); };
  cb.on_step = [&](const train::StepProgress& p) {
    const bool last = p.batch == p.batches;
    const int64_t every = std::max<int64_t>(1, p.batches / 10);
    const bool force = progress.is_terminal() ? last : (last || p.batch % every == 0);
    std::string bar;
    if (progress.is_terminal()) {
      const int width = 20, filled = static_cast<int>(width * p.batch / p.batches);
      bar = "[" + std::string(filled, '#') + std::string(width - filled, '.') + "] ";
    }
    progress.update(
        fmt::format("epoch {}/{} {}{}/{}  loss {:.4f}  acc {}  {:.0f} img/s  lr {:.3g}"
                    "  ETA {}",
                    p.epoch + 1, p.epochs, bar, p.batch, p.batches, p.loss, percent(p.accuracy),
                    p.images_per_s, p.lr, format_duration(p.eta_s)),
        force);
  };
  cb.on_epoch = [&](const train::EpochMetrics& e) {
    progress.finish();
    if (a.json) {
      nlohmann::json j = {{"epoch", e.epoch},
                          {"epochs", e.epochs},
                          {"train_loss", e.train_loss},
                          {"train_accuracy", e.train_accuracy},
                          {"lr", e.lr},
                          {"images_per_s", e.images_per_s},
                          {"seconds", e.seconds}};
      if (e.val) j["val"] = eval_json(*e.val);
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("epoch {}/{}: train loss {:.4f} acc {}{}  ({:.0f} img/s, {})\n", e.epoch, e.epochs,
                 e.train_loss, percent(e.train_accuracy),
                 e.val ? fmt::format("; val loss {:.4f} top-1 {} top-5 {}", e.val->loss,
                                     percent(e.val->accuracy()), percent(e.val->top5_accuracy()))
                       : std::string(),
                 e.images_per_s, format_duration(e.seconds));
    }
    std::fflush(stdout);
  };

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESETHAND;  // a second Ctrl-C kills at once
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  sigaction(SIGINT, &sa, &old);
  auto result = train::fit(t, *d.train.dataset, d.val.get(), fopts, cb);
  sigaction(SIGINT, &old, nullptr);
  progress.finish();
  if (!result) return fail(result.status());
  if (result->interrupted) {
    if (fopts.checkpoint.empty()) {
      fmt::print(stderr, "interrupted at epoch {}, batch {}; no checkpoint (--checkpoint none)\n",
                 result->epochs_done + 1, result->batch_in_epoch);
    } else {
      fmt::print(stderr,
                 "interrupted at epoch {}, batch {}: checkpoint saved to {}; continue with "
                 "--resume {} (the model '{}' was not written)\n",
                 result->epochs_done + 1, result->batch_in_epoch, fopts.checkpoint,
                 fopts.checkpoint, a.output);
    }
    return 130;
  }
  return std::nullopt;
}

}  // namespace condense::cli
