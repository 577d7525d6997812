// Datasets for training, evaluation and calibration: readers (IDX for MNIST/Fashion-MNIST,
// CIFAR-10 binary batches, image folders from a directory or a .tar(.gz), NumPy .npy/.npz), the
// dataset specs the CLI takes (`--data mnist:DIR`), normalization presets, augmentation (random
// crop with padding, horizontal flip), seeded shuffling, and a Loader that assembles batches in a
// background thread. Every reader reports missing, corrupt or truncated input as a one-line
// Status naming the file; none crashes.
//
// Training loop (what `condense train` does with this header):
//
//   namespace data = condense::data;
//   CONDENSE_ASSIGN_OR_RETURN(data::DatasetSpec spec, data::parse_dataset_spec("cifar10:DIR"));
//   data::DatasetOptions dopts;
//   dopts.split = data::Split::Train;
//   CONDENSE_ASSIGN_OR_RETURN(dopts.preprocess, data::parse_normalization("cifar10"));
//   CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Dataset> ds, data::open_dataset(spec, dopts));
//   // Before the first step: samples must fit the model's input, labels its class count.
//   CONDENSE_TRY(data::check_sample_shape(*ds, {-1, 3, 32, 32}, "input"));  // -1: symbolic N
//   CONDENSE_TRY(data::check_labels(*ds, 10));
//
//   data::LoaderOptions lopts;
//   lopts.batch_size = 128;
//   lopts.shuffle = true;
//   lopts.seed = 42;                       // order and augmentation: functions of (seed, epoch)
//   CONDENSE_ASSIGN_OR_RETURN(lopts.augment, data::parse_augment("crop4,flip"));
//   CONDENSE_ASSIGN_OR_RETURN(std::unique_ptr<data::Loader> loader,
//                             data::Loader::create(*ds, lopts));  // *ds must outlive it
//   for (int64_t epoch = start_epoch; epoch < epochs; ++epoch) {   // --resume: start at k
//     CONDENSE_TRY(loader->start_epoch(epoch));
//     for (;;) {
//       CONDENSE_ASSIGN_OR_RETURN(std::optional<data::Batch> b, loader->next());
//       if (!b) break;                       // end of epoch
//       // b->x: f32 (B, 3, 32, 32), b->y: i64 (B), b->labels: the same B labels as a vector
//     }
//   }
//   // Leaving early (error, Ctrl-C) is fine: ~Loader stops and joins its thread.
//
// Evaluation reads in order without a loader: ds->batch(start, count) -> Batch.
#pragma once

#include <condense/status.h>
#include <condense/tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace condense::data {

// ---- gzip and tar -------------------------------------------------------------------------------

// Whole decompressed contents of gzip bytes (concatenated members are joined). Bytes that do not
// start with the gzip magic are returned unchanged, so callers accept plain and gzipped files
// alike. `what` names the source in error messages.
Result<std::string> gunzip(std::string_view bytes, std::string_view what = "gzip data");
// gunzip() of a file's contents.
Result<std::string> read_maybe_gzip_file(const std::string& path);

struct TarEntry {
  std::string path;  // member path as stored (ustar prefix/name joined, GNU long names resolved)
  uint64_t size = 0;
};
// Streams a tar archive (gzip-compressed or plain) from a file without holding it in memory,
// calling `on_file` for every regular file in archive order; other member types (directories,
// links, devices, pax headers) are skipped. `on_file` returning an error stops the walk and the
// error is returned with the archive's name. Checksums and sizes are validated; a truncated
// archive is an error.
using TarVisitor = std::function<Status(const TarEntry& entry, std::string_view contents)>;
Status for_each_tar_file(const std::string& path, const TarVisitor& on_file);
// The same over archive bytes in memory (gzip-compressed or plain).
Status for_each_tar_file_in_bytes(std::string_view bytes, const TarVisitor& on_file,
                                  std::string_view what = "tar archive");

// ---- images -------------------------------------------------------------------------------------

// 8-bit RGB pixels, row-major HWC: pixel (y, x) channel c is pixels[(y * width + x) * 3 + c].
struct Image {
  int64_t width = 0;
  int64_t height = 0;
  std::vector<uint8_t> pixels;
};

// Grayscale and CMYK JPEGs become RGB; decoding errors (corrupt or truncated data) are a Status.
Result<Image> decode_jpeg(std::string_view bytes);
// Palette, grayscale and 16-bit PNGs become 8-bit RGB; an alpha channel is composited onto black.
Result<Image> decode_png(std::string_view bytes);
// JPEG or PNG by the file's magic bytes.
Result<Image> decode_image(std::string_view bytes);

// ---- IDX (MNIST) --------------------------------------------------------------------------------

// An IDX file (big-endian header: 0, 0, type code, rank, then `rank` u32 dims) as a tensor of its
// element type (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64): MNIST images are
// u8 (N, 28, 28), labels u8 (N). Accepts gzip-compressed or plain bytes.
Result<Tensor> parse_idx(std::string_view bytes);
Result<Tensor> read_idx(const std::string& path);

// ---- preprocessing ------------------------------------------------------------------------------

// x = (pixel / divisor - mean[c]) / std[c] per channel c, in f32 in that order (as torchvision's
// ToTensor then Normalize). mean/std have one value per channel or one value for all channels.
// The divisor applies to 8-bit pixels only: float data (npy/npz) is already scaled, so it gets
// (x - mean[c]) / std[c] (torchvision's ToTensor likewise divides only uint8 input).
struct Preprocess {
  float divisor = 255.0f;
  std::vector<float> mean{0.0f};
  std::vector<float> std{1.0f};

  // pixels/255, then ImageNet statistics (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225).
  static Preprocess imagenet();
  // pixels/255, then CIFAR-10's training-set statistics (mean 0.4914, 0.4822, 0.4465; std 0.2470,
  // 0.2435, 0.2616).
  static Preprocess cifar10();
  // pixels/255, then MNIST's (mean 0.1307, std 0.3081).
  static Preprocess mnist();
  // pixels/255 only: values in [0, 1] (torchvision's ToTensor without Normalize).
  static Preprocess unit();
  // Raw pixel values 0..255 as float (e.g. the ONNX model zoo's mnist-8).
  static Preprocess raw();

  // The preprocessed value of a zero pixel in channel c: what crop padding fills.
  float zero_value(int64_t c) const;
};

// A preset name or explicit statistics:
//   imagenet | cifar10 | mnist    the presets above
//   unit                          pixels/255
//   raw | none                    no normalization (pixels 0..255; float data unchanged)
//   MEAN/STD                      pixels/255, then (x - mean) / std with comma-separated lists of
//                                 one value or one per channel: "0.5/0.25",
//                                 "0.49,0.48,0.45/0.2,0.2,0.2"
// Errors name the bad token and list the presets.
Result<Preprocess> parse_normalization(std::string_view text);

// Images of equal size -> f32 (N, 3, H, W).
Result<Tensor> images_to_nchw(std::span<const Image> images, const Preprocess& preprocess);
// Rows [start, start + count) of u8 images (N, H, W) or (N, H, W, C) -> f32 (count, C, H, W)
// with C = 1 for rank 3.
Result<Tensor> u8_images_to_nchw(const Tensor& images, int64_t start, int64_t count,
                                 const Preprocess& preprocess);

// ---- datasets -----------------------------------------------------------------------------------

struct Batch {
  Tensor x;                      // f32 (N, C, H, W), or (N, D) for feature-vector datasets
  Tensor y;                      // i64 (N): the labels as a tensor (a loss node's target)
  std::vector<int64_t> labels;   // the same N class indices
  std::vector<int64_t> indices;  // the dataset index of each sample
};

// A labelled dataset held in memory. Immutable once opened: every const method may be called
// from several threads at once. No method uses OpenMP, so a loader thread never touches the
// compute threads' pool.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  // Class names in label order, when the dataset has them; else empty.
  virtual std::vector<std::string> class_names() const { return {}; }
  // One sample as the model sees it: (C, H, W) for images, (D) for feature vectors.
  virtual Shape sample_shape() const = 0;
  // How samples are normalized (augmentation pads with its zero_value()).
  virtual const Preprocess& preprocess() const = 0;
  // For messages: the spec or path it was opened from, e.g. "mnist:/data/mnist (test)".
  virtual std::string description() const = 0;
  // Label of sample `index` in [0, size()) (asserted).
  virtual int64_t label(int64_t index) const = 0;
  // Sample `index` in [0, size()) (asserted), preprocessed, into `out`: f32 in the row-major
  // order of sample_shape(), out.size() == its element count (asserted).
  virtual void read_sample(int64_t index, std::span<float> out) const = 0;

  // Element count of one sample.
  int64_t sample_numel() const;
  // Samples [start, min(start + count, size())): error when start is out of range or count < 1.
  Result<Batch> batch(int64_t start, int64_t count) const;
};

// Dataset over tensors in memory, the form every reader below produces:
//   x u8 (N, H, W)                        grayscale images -> samples (1, H, W)
//   x u8 (N, C, H, W) with layout NCHW    (CIFAR-10 binary)
//   x u8 (N, H, W, C) with layout NHWC    (NumPy/PIL image arrays, decoded image folders)
//   x f32 (N, C, H, W), (N, H, W) or (N, D)   already-scaled float data (layout NCHW only)
// labels: N values in [0, num_classes). num_classes 0: max label + 1.
enum class Layout { NCHW, NHWC };
struct TensorData {
  Tensor x;
  Layout layout = Layout::NCHW;
  std::vector<int64_t> labels;
  int64_t num_classes = 0;
  std::vector<std::string> class_names;  // empty, or num_classes names
  std::string description = "in-memory dataset";
  Preprocess preprocess = Preprocess::raw();
};
Result<std::unique_ptr<Dataset>> make_dataset(TensorData data);

struct ImageFolderOptions {
  Preprocess preprocess = Preprocess::imagenet();
  // Inside an archive: only members under this folder ("test" selects test/<class>/...). Empty:
  // the whole archive, whose images must all sit at the same depth.
  std::string prefix;
  // Without a prefix: when the directory or archive has this top folder (e.g. "train" for
  // train/<class>/...), read only that folder; else read everything. Empty: no preference.
  std::string split_folder;
  int64_t limit = 0;        // > 0: keep only the first `limit` samples (after sorting); 0: all
  std::string description;  // Dataset::description(); empty: the path (and prefix)
};

// `<root>/<class>/<image>.{jpg,jpeg,png}`, from a directory or from a .tar/.tar.gz archive. Class
// folder names sorted (byte order) give the labels 0..K-1; samples are sorted by class, then file
// name. Images must all have the same size; samples are (3, H, W). Other files and hidden entries
// are ignored; no image at all, or (for a directory) a class folder without images, is an error.
Result<std::unique_ptr<Dataset>> open_image_folder(const std::string& path,
                                                   const ImageFolderOptions& options = {});

// MNIST-style IDX pair: images u8 (N, H, W), labels u8 (N). num_classes = max label + 1.
Result<std::unique_ptr<Dataset>> open_idx(const std::string& images_path,
                                          const std::string& labels_path,
                                          const Preprocess& preprocess = Preprocess::raw());

// ---- dataset specs (the CLI's --data) -----------------------------------------------------------

enum class Split { Train, Test };
std::string_view split_name(Split split);  // "train", "test"
Result<Split> parse_split(std::string_view text);

// KIND:PATH[:SUBFOLDER]
//   mnist:DIR            the four MNIST files in DIR: {train,t10k}-{images-idx3,labels-idx1}-ubyte,
//                        each plain or .gz (also the "train-images.idx3-ubyte" spelling)
//   fashion-mnist[:DIR]  the same files; DIR defaults to /usr/share/datasets/fashion-mnist
//   (Debian's
//                        dataset-fashion-mnist)
//   cifar10:PATH         CIFAR-10 binary version: data_batch_1..5.bin (train) and test_batch.bin
//                        (test), records of 1 label byte + 3072 pixel bytes (R, G, B planes of
//                        32x32); PATH is their folder, a folder holding cifar-10-batches-bin/, or
//                        the cifar-10-binary.tar.gz archive
//   imagefolder:PATH[:SUB]   image folder (open_image_folder) in a directory or .tar(.gz) archive;
//                        SUB selects a folder inside it; without SUB the split's folder ("train",
//                        "test") is used when it exists, else PATH itself
//   npz:PATH             NumPy data: an .npz with members x and y (or x_train/y_train and
//                        x_test/y_test, as Keras' mnist.npz), or a folder with x.npy + y.npy (or
//                        x_train.npy/y_train.npy, x_test.npy/y_test.npy). x u8 images (N, H, W) or
//                        (N, H, W, C), or float (N, C, H, W) / (N, H, W) / (N, D); y integers (N)
struct DatasetSpec {
  std::string kind;  // mnist, fashion-mnist, cifar10, imagefolder, npz
  std::string path;
  std::string subfolder;    // imagefolder only
  std::string str() const;  // back to KIND:PATH[:SUB]
};
Result<DatasetSpec> parse_dataset_spec(std::string_view text);
// The kinds parse_dataset_spec() accepts.
std::vector<std::string> dataset_kinds();

struct DatasetOptions {
  Split split = Split::Train;
  Preprocess preprocess = Preprocess::unit();
  int64_t limit = 0;  // > 0: keep only the first `limit` samples (in file order); 0: all
};
// Opens `spec` for one split. A path that does not exist, a missing file of the split, labels out
// of range of the format's classes (MNIST, CIFAR-10: 10) are one-line errors naming the path.
Result<std::unique_ptr<Dataset>> open_dataset(const DatasetSpec& spec,
                                              const DatasetOptions& options = {});

// ---- checks against a model ---------------------------------------------------------------------

// Every label in [0, num_classes): else e.g. "dataset 'npz:y.npz (train)': sample 17 has label 12,
// out of range for a model with 10 classes (outputs 0..9)".
Status check_labels(const Dataset& dataset, int64_t num_classes);
// The samples fit a model input of shape `input_dims` (batch first; -1 for a symbolic
// dimension): equal dims after the batch, or a rank-2 input (N, D) with D = sample_numel()
// (then reshape each batch to (B, D)). Else e.g. "dataset 'mnist:DIR (train)' has samples
// (1, 28, 28) but model input 'input' is (N, 3, 32, 32): 1 channel vs 3, 28x28 vs 32x32".
Status check_sample_shape(const Dataset& dataset, const std::vector<int64_t>& input_dims,
                          std::string_view input_name = "input");

// ---- augmentation and order ---------------------------------------------------------------------

// Training-time augmentation of (C, H, W) samples, in this order: random crop, then flip.
struct Augment {
  // > 0: pad every side with `crop_padding` zero pixels (their preprocessed value, as
  // torchvision's RandomCrop(padding=p) before Normalize), then crop a window of the original
  // size at a uniformly random offset in [0, 2p] x [0, 2p].
  int64_t crop_padding = 0;
  bool hflip = false;  // mirror left-right with probability 1/2
  bool enabled() const { return crop_padding > 0 || hflip; }
};
// Comma-separated: cropN (pad N, crop back; e.g. crop4), flip (or hflip), none. Empty: none.
Result<Augment> parse_augment(std::string_view text);

// Applies `augment` in place to one preprocessed sample `chw` of `shape` (C, H, W), with the
// random choices drawn from `key` alone (the loader derives it from seed, epoch and sample
// index: same key, same result, on every machine and thread count). `fill[c]`: the padding
// value of channel c. `scratch` is reused between calls.
void augment_sample(std::span<float> chw, const Shape& shape, const Augment& augment,
                    std::span<const float> fill, uint64_t key, std::vector<float>& scratch);

// The order of epoch `epoch` over n samples: a permutation drawn from (seed, epoch) alone (so a
// run resumed at epoch k sees the same order as an uninterrupted one), or 0..n-1 when !shuffle.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

// ---- loader -------------------------------------------------------------------------------------

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // true: skip an epoch's last batch when it is short
  uint64_t seed = 0;
  Augment augment;
  int64_t prefetch = 4;  // batches assembled ahead of the consumer (the queue's capacity)
};

// Assembles batches in one background std::thread (no OpenMP) while the caller computes: a
// bounded queue of `prefetch` batches. Batch k of epoch e always holds the same samples with the
// same augmentation, whatever the timing. Not thread-safe: one consumer thread calls it.
class Loader {
 public:
  // `dataset` must outlive the loader. Errors: batch_size or prefetch < 1, an empty dataset,
  // drop_last with fewer samples than one batch, augmentation on non-image (C, H, W) samples.
  static Result<std::unique_ptr<Loader>> create(const Dataset& dataset,
                                                const LoaderOptions& options);
  ~Loader();  // stops the thread and joins it, whatever state it is in
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t batches_per_epoch() const;
  // Starts epoch `epoch` (>= 0) at batch `first_batch` (to resume mid-epoch), abandoning the
  // current one. Error when first_batch is outside [0, batches_per_epoch()].
  Status start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The epoch's next batch; std::nullopt after its last one (and on every later call until the
  // next start_epoch); a read error as a Status. Error when no epoch was started.
  Result<std::optional<Batch>> next();

 private:
  struct State;
  explicit Loader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace condense::data
