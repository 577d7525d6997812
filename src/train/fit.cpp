// fit(): the epoch loop over a background loader, with validation, checkpoints, resume and
// interruption.
#include <condense/file.h>
#include <condense/trainer.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace condense::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Where a run stands: what a checkpoint records besides the trainer's tensors.
struct Position {
  int64_t epoch = 0;  // the epoch in progress (== epochs done when batch is 0)
  int64_t batch = 0;  // batches of it done
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
};

nlohmann::json run_info(const Trainer& t, const FitOptions& o, int64_t steps_per_epoch) {
  return {{"seed", o.seed},
          {"batch_size", o.batch_size},
          {"steps_per_epoch", steps_per_epoch},
          {"epochs", o.epochs},
          {"optimizer", std::string(optimizer_kind_name(t.options().optimizer.kind))},
          {"schedule", schedule_str(t.options().schedule)},
          {"run", o.run_description}};
}

Status save_checkpoint(const std::string& path, const Trainer& t, const Position& pos,
                       const nlohmann::json& info) {
  std::vector<npy::NamedArray> arrays = t.state();
  arrays.push_back({"meta/epoch", Tensor::scalar<int64_t>(pos.epoch)});
  arrays.push_back({"meta/batch", Tensor::scalar<int64_t>(pos.batch)});
  arrays.push_back({"meta/loss_sum", Tensor::scalar<double>(pos.loss_sum)});
  arrays.push_back({"meta/correct", Tensor::scalar<int64_t>(pos.correct)});
  arrays.push_back({"meta/seen", Tensor::scalar<int64_t>(pos.seen)});
  const std::string text = info.dump();
  arrays.push_back(
      {"meta/info", Tensor::from_vector<uint8_t>(std::vector<uint8_t>(text.begin(), text.end()),
                                                 {static_cast<int64_t>(text.size())})});
  return write_file_atomic(path, npy::serialize_npz(arrays))
      .with_context(fmt::format("writing checkpoint '{}'", path));
}

Result<Position> load_checkpoint(const std::string& path, Trainer& t, const nlohmann::json& info,
                                 const FitCallbacks& cb) {
  CONDENSE_ASSIGN_OR_RETURN(std::vector<npy::NamedArray> arrays, npy::read_npz(path));
  std::map<std::string, Tensor> meta;
  for (const npy::NamedArray& a : arrays)
    if (a.name.rfind("meta/", 0) == 0) meta[a.name] = a.tensor;
  for (const char* key :
       {"meta/epoch", "meta/batch", "meta/loss_sum", "meta/correct", "meta/seen", "meta/info"})
    if (!meta.count(key))
      return Status::errorf("'{}' is not a condense training checkpoint (no {})", path, key);
  Position pos;
  pos.epoch = meta["meta/epoch"].get_i64(0);
  pos.batch = meta["meta/batch"].get_i64(0);
  pos.loss_sum = meta["meta/loss_sum"].get_f64(0);
  pos.correct = meta["meta/correct"].get_i64(0);
  pos.seen = meta["meta/seen"].get_i64(0);
  const Tensor& text = meta["meta/info"];
  nlohmann::json saved = nlohmann::json::parse(
      std::string(text.data<char>(), text.data<char>() + text.numel()), nullptr, false);
  if (saved.is_discarded())
    return Status::errorf("checkpoint '{}' has an unreadable meta/info record", path);
  if (saved.value("optimizer", "") != info["optimizer"])
    return Status::errorf("checkpoint '{}' was written by optimizer {}, this run uses {}", path,
                          saved.value("optimizer", "?"), info["optimizer"].get<std::string>());
  if (pos.batch > 0 && saved.value("steps_per_epoch", int64_t{0}) != info["steps_per_epoch"])
    return Status::errorf(
        "checkpoint '{}' stopped mid-epoch with {} batches per epoch; this run has {} (same "
        "--batch and data needed to resume mid-epoch)",
        path, saved.value("steps_per_epoch", int64_t{0}), info["steps_per_epoch"].get<int64_t>());
  // Checked before anything is restored, so a refused checkpoint leaves the trainer as it was.
  Status s = t.load_state(arrays);
  if (!s.is_ok()) return s.with_context(fmt::format("resuming from '{}'", path));
  if (cb.on_message) {
    for (const char* key : {"seed", "batch_size", "schedule", "run"})
      if (saved.contains(key) && saved[key] != info[key])
        cb.on_message(fmt::format(
            "note: {} differs from the checkpoint's ({} vs {}): the resumed run is not the same "
            "as an uninterrupted one",
            key, info[key].dump(), saved[key].dump()));
    cb.on_message(
        fmt::format("resuming from '{}' at epoch {}, batch {}", path, pos.epoch + 1, pos.batch));
  }
  return pos;
}

}  // namespace

Result<FitResult> fit(Trainer& trainer, const data::Dataset& train_set,
                      const data::Dataset* val_set, const FitOptions& options,
                      const FitCallbacks& cb) {
  if (options.epochs < 1) return Status::errorf("epochs {} < 1", options.epochs);
  const std::string& input = trainer.input_name();
  CONDENSE_TRY(data::check_sample_shape(train_set, trainer.input_dims(), input));
  CONDENSE_TRY(data::check_labels(train_set, trainer.num_classes()));
  if (val_set) {
    CONDENSE_TRY(data::check_sample_shape(*val_set, trainer.input_dims(), input));
    CONDENSE_TRY(data::check_labels(*val_set, trainer.num_classes()));
  }
  data::LoaderOptions lopts;
  lopts.batch_size = options.batch_size;
  lopts.shuffle = options.shuffle;
  lopts.seed = options.seed;
  lopts.augment = options.augment;
  CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> loader,
                            data::Loader::create(train_set, lopts));
  const int64_t steps = loader->batches_per_epoch();
  CONDENSE_TRY(trainer.set_schedule(steps, options.epochs));
  const nlohmann::json info = run_info(trainer, options, steps);

  Position pos;
  if (!options.resume.empty()) {
    CONDENSE_ASSIGN_OR_RETURN(pos, load_checkpoint(options.resume, trainer, info, cb));
    if (pos.batch >= steps) pos = {pos.epoch + 1, 0, 0, 0, 0};
  }
  FitResult result;
  result.epochs_done = pos.epoch;
  if (pos.epoch >= options.epochs && cb.on_message)
    cb.on_message(fmt::format("the checkpoint has done {} of {} epochs: nothing to train",
                              pos.epoch, options.epochs));

  const auto run_start = Clock::now();
  int64_t run_steps = 0;
  const int64_t total_steps = options.epochs * steps;
  const int64_t first_step = pos.epoch * steps + pos.batch;
  for (int64_t epoch = pos.epoch; epoch < options.epochs; ++epoch) {
    const auto epoch_start = Clock::now();
    CONDENSE_TRY(loader->start_epoch(epoch, pos.batch));
    double train_seconds = 0;
    int64_t epoch_images = 0;  // this run's, for images/s
    double last_lr = 0;
    for (int64_t b = pos.batch; b < steps; ++b) {
      const auto t0 = Clock::now();
      CONDENSE_ASSIGN_OR_RETURN(std::optional<data::Batch> batch, loader->next());
      if (!batch) return Status::errorf("internal: epoch {} ended after {} batches", epoch + 1, b);
      const int64_t global = epoch * steps + b;
      CONDENSE_ASSIGN_OR_RETURN(StepStats st, trainer.step(*batch, global, options.seed));
      if (!st.finite) {
        const std::string what = std::isnan(st.loss)   ? "the loss became NaN"
                                 : std::isinf(st.loss) ? "the loss became infinite"
                                                       : "a gradient became NaN or infinite";
        return Status::errorf(
            "{} at epoch {}, step {} (lr {:g}); training stopped with the weights of the "
            "previous step{}",
            what, epoch + 1, b + 1, st.lr,
            options.checkpoint.empty() || !std::filesystem::exists(options.checkpoint)
                ? std::string()
                : fmt::format("; the last good checkpoint is '{}'", options.checkpoint));
      }
      train_seconds += seconds_since(t0);
      epoch_images += st.count;
      ++run_steps;
      last_lr = st.lr;
      pos.batch = b + 1;
      pos.loss_sum += st.loss * double(st.count);
      pos.correct += st.correct;
      pos.seen += st.count;
      if (cb.on_step) {
        StepProgress p;
        p.epoch = epoch;
        p.epochs = options.epochs;
        p.batch = b + 1;
        p.batches = steps;
        p.loss = pos.loss_sum / double(pos.seen);
        p.accuracy = double(pos.correct) / double(pos.seen);
        p.images_per_s = train_seconds > 0 ? double(epoch_images) / train_seconds : 0;
        p.lr = st.lr;
        const double per_step = seconds_since(run_start) / double(run_steps);
        p.eta_s = per_step * double(total_steps - first_step - run_steps);
        cb.on_step(p);
      }
      const bool stop =
          (options.interrupt && options.interrupt->load()) ||
          (options.interrupt_after_steps >= 0 && run_steps >= options.interrupt_after_steps);
      if (stop) {
        if (!options.checkpoint.empty())
          CONDENSE_TRY(save_checkpoint(options.checkpoint, trainer, pos, info));
        result.interrupted = true;
        result.epochs_done = epoch;
        result.batch_in_epoch = pos.batch;
        return result;
      }
    }
    EpochMetrics m;
    m.epoch = epoch + 1;
    m.epochs = options.epochs;
    m.train_loss = pos.loss_sum / double(pos.seen);
    m.train_accuracy = double(pos.correct) / double(pos.seen);
    m.lr = last_lr;
    m.images_per_s = train_seconds > 0 ? double(epoch_images) / train_seconds : 0;
    if (val_set) {
      CONDENSE_ASSIGN_OR_RETURN(ir::Graph model, trainer.model());
      EvalOptions eopts;
      eopts.batch_size = options.eval_batch_size;
      eopts.threads = trainer.options().threads;
      eopts.input = trainer.options().input;
      eopts.output = trainer.options().output;
      CONDENSE_ASSIGN_OR_RETURN(m.val, evaluate(std::move(model), *val_set, eopts));
    }
    pos = {epoch + 1, 0, 0, 0, 0};
    if (!options.checkpoint.empty())
      CONDENSE_TRY(save_checkpoint(options.checkpoint, trainer, pos, info));
    m.seconds = seconds_since(epoch_start);
    result.epochs.push_back(m);
    result.epochs_done = epoch + 1;
    if (cb.on_epoch) cb.on_epoch(m);
  }
  return result;
}

}  // namespace condense::train
