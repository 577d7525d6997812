// Loader: one producer std::thread per epoch fills a bounded queue with batches; the consumer
// (the training loop) pops them. Stopping is cooperative: the producer checks `stop` before each
// batch and while it waits for room, so the destructor and start_epoch never hang.
#include <condense/data.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "io/sample_key.h"

namespace condense::data {

namespace {

// One queue entry: a batch, the epoch's end, or the error that ended it.
struct Item {
  std::optional<Batch> batch;
  Status error;
};

}  // namespace

struct Loader::State {
  const Dataset& dataset;
  LoaderOptions options;
  int64_t batches = 0;      // per epoch
  std::vector<float> fill;  // per channel: a zero pixel after preprocessing (crop padding)

  std::mutex mu;
  std::condition_variable room;   // the producer waits for queue.size() < prefetch
  std::condition_variable ready;  // the consumer waits for an item
  std::deque<Item> queue;
  bool stop = false;
  std::thread producer;
  bool started = false;  // an epoch was started
  bool done = false;     // the consumer saw the epoch's end (or its error)

  State(const Dataset& ds, LoaderOptions o) : dataset(ds), options(std::move(o)) {}

  void stop_producer() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    room.notify_all();
    if (producer.joinable()) producer.join();
    queue.clear();
    stop = false;
  }

  // Pushes `item` once there is room; false when asked to stop. The epoch's end marker may
  // exceed the capacity by one so that it never waits.
  bool push(Item item, bool end) {
    std::unique_lock<std::mutex> lock(mu);
    room.wait(lock,
              [&] { return stop || end || static_cast<int64_t>(queue.size()) < options.prefetch; });
    if (stop) return false;
    queue.push_back(std::move(item));
    lock.unlock();
    ready.notify_one();
    return true;
  }

  Batch assemble(std::span<const int64_t> indices, int64_t epoch, std::vector<float>& scratch) {
    const Shape sample = dataset.sample_shape();
    const int64_t numel = dataset.sample_numel();
    const int64_t count = static_cast<int64_t>(indices.size());
    Shape shape = sample;
    shape.insert(shape.begin(), count);
    Batch b;
    b.x = Tensor::empty(DType::F32, shape);
    b.y = Tensor::empty(DType::I64, {count});
    for (int64_t i = 0; i < count; ++i) {
      std::span<float> out(b.x.data<float>() + i * numel, numel);
      dataset.read_sample(indices[i], out);
      if (options.augment.enabled())
        augment_sample(out, sample, options.augment, fill,
                       io_internal::sample_key(options.seed, epoch, indices[i]), scratch);
      b.indices.push_back(indices[i]);
      b.labels.push_back(dataset.label(indices[i]));
      b.y.data<int64_t>()[i] = b.labels.back();
    }
    return b;
  }

  void produce(int64_t epoch, int64_t first_batch) {
    try {
      const std::vector<int64_t> order =
          epoch_order(dataset.size(), options.shuffle, options.seed, epoch);
      std::vector<float> scratch;
      const int64_t bs = options.batch_size;
      for (int64_t k = first_batch; k < batches; ++k) {
        {
          std::lock_guard<std::mutex> lock(mu);
          if (stop) return;
        }
        const int64_t start = k * bs;
        const int64_t count = std::min(bs, dataset.size() - start);
        Item item;
        item.batch = assemble(std::span(order).subspan(start, count), epoch, scratch);
        if (!push(std::move(item), false)) return;
      }
      push(Item{}, true);
    } catch (const std::exception& e) {  // e.g. std::bad_alloc: report, never terminate
      push(Item{std::nullopt, Status::errorf("data loader: {} (dataset '{}', epoch {})", e.what(),
                                             dataset.description(), epoch)},
           true);
    }
  }
};

Loader::Loader(std::unique_ptr<State> state) : state_(std::move(state)) {}

Loader::~Loader() {
  if (state_) state_->stop_producer();
}

Result<std::unique_ptr<Loader>> Loader::create(const Dataset& dataset,
                                               const LoaderOptions& options) {
  const std::string what = dataset.description();
  if (options.batch_size < 1)
    return Status::errorf("batch size must be >= 1, got {}", options.batch_size);
  if (options.prefetch < 1)
    return Status::errorf("loader prefetch must be >= 1 batch, got {}", options.prefetch);
  if (dataset.size() < 1) return Status::errorf("dataset '{}' holds no samples", what);
  if (options.drop_last && dataset.size() < options.batch_size)
    return Status::errorf(
        "dataset '{}' has {} samples, fewer than one batch of {} (and the last short batch is "
        "dropped)",
        what, dataset.size(), options.batch_size);
  const Shape sample = dataset.sample_shape();
  if (options.augment.enabled() && sample.size() != 3)
    return Status::errorf(
        "augmentation needs image samples (C, H, W), but dataset '{}' has samples {}", what,
        shape_str(sample));
  auto state = std::make_unique<State>(dataset, options);
  const int64_t n = dataset.size(), bs = options.batch_size;
  state->batches = options.drop_last ? n / bs : (n + bs - 1) / bs;
  if (sample.size() == 3)
    for (int64_t c = 0; c < sample[0]; ++c)
      state->fill.push_back(dataset.preprocess().zero_value(c));
  return std::unique_ptr<Loader>(new Loader(std::move(state)));
}

int64_t Loader::batches_per_epoch() const {
  return state_->batches;
}

Status Loader::start_epoch(int64_t epoch, int64_t first_batch) {
  State& s = *state_;
  if (epoch < 0) return Status::errorf("epoch must be >= 0, got {}", epoch);
  if (first_batch < 0 || first_batch > s.batches)
    return Status::errorf("first batch {} is outside 0..{} (batches per epoch)", first_batch,
                          s.batches);
  s.stop_producer();
  s.started = true;
  s.done = false;
  s.producer = std::thread([&s, epoch, first_batch] { s.produce(epoch, first_batch); });
  return Status::ok();
}

Result<std::optional<Batch>> Loader::next() {
  State& s = *state_;
  if (!s.started) return Status::error("data loader: next() before start_epoch()");
  if (s.done) return std::optional<Batch>();
  std::unique_lock<std::mutex> lock(s.mu);
  s.ready.wait(lock, [&] { return !s.queue.empty(); });
  Item item = std::move(s.queue.front());
  s.queue.pop_front();
  lock.unlock();
  s.room.notify_one();
  if (!item.batch) {
    s.done = true;
    if (!item.error.is_ok()) return item.error;
    return std::optional<Batch>();
  }
  return std::move(item.batch);
}

}  // namespace condense::data
