// Datasets for evaluation and calibration: gzip streams, tar archives, JPEG/PNG images, IDX
// files (MNIST, Fashion-MNIST), image-folder datasets (`<root>/<class>/<image>`, from a directory
// or from inside a .tar.gz), and the preprocessing that turns images into float NCHW batches.
// Every reader reports corrupt or truncated input as a Status naming the file; none crashes.
//
//   // CIFAR-10 JPEG test set: members test/<class>/NNNN.jpg, classes sorted = labels 0..9.
//   condense::data::ImageFolderOptions opts;   // ImageNet normalization by default
//   auto ds = condense::data::open_image_folder("cifar10-test-jpeg.tar.gz", opts);
//   if (!ds) return fail(ds.status());
//   for (int64_t i = 0; i < (*ds)->size(); i += 100) {
//     auto b = (*ds)->batch(i, 100);   // b->x: f32 (100, 3, 32, 32), b->labels: 100 class indices
//     ...
//   }
#pragma once

#include <condense/status.h>
#include <condense/tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
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
struct Preprocess {
  float divisor = 255.0f;
  std::vector<float> mean{0.0f};
  std::vector<float> std{1.0f};

  // pixels/255, then ImageNet statistics (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225).
  static Preprocess imagenet();
  // Raw pixel values 0..255 as float (e.g. the ONNX model zoo's mnist-8).
  static Preprocess raw();
};

// Images of equal size -> f32 (N, 3, H, W).
Result<Tensor> images_to_nchw(std::span<const Image> images, const Preprocess& preprocess);
// Rows [start, start + count) of u8 images (N, H, W) or (N, H, W, C) -> f32 (count, C, H, W)
// with C = 1 for rank 3.
Result<Tensor> u8_images_to_nchw(const Tensor& images, int64_t start, int64_t count,
                                 const Preprocess& preprocess);

// ---- datasets -----------------------------------------------------------------------------------

struct Batch {
  Tensor x;                     // f32 (N, C, H, W)
  std::vector<int64_t> labels;  // N class indices
};

// A labelled dataset held in memory, read in batches (the last one may be short).
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  // Class names in label order, when the dataset has them (image folders); else empty.
  virtual std::vector<std::string> class_names() const { return {}; }
  // Samples [start, min(start + count, size())): error when start is out of range or count < 1.
  virtual Result<Batch> batch(int64_t start, int64_t count) const = 0;
};

struct ImageFolderOptions {
  Preprocess preprocess = Preprocess::imagenet();
  // Inside an archive: only members under this folder ("test" selects test/<class>/...). Empty:
  // the whole archive, whose images must all sit at the same depth.
  std::string prefix;
  int64_t limit = 0;  // > 0: keep only the first `limit` samples (after sorting); 0: all
};

// `<root>/<class>/<image>.{jpg,jpeg,png}`, from a directory or from a .tar/.tar.gz archive. Class
// folder names sorted (byte order) give the labels 0..K-1; samples are sorted by class, then file
// name. Images must all have the same size. Other files and hidden entries are ignored; no image
// at all, or (for a directory) a class folder without images, is an error.
Result<std::unique_ptr<Dataset>> open_image_folder(const std::string& path,
                                                   const ImageFolderOptions& options = {});

// MNIST-style IDX pair: images u8 (N, H, W), labels u8 (N).
Result<std::unique_ptr<Dataset>> open_idx(const std::string& images_path,
                                          const std::string& labels_path,
                                          const Preprocess& preprocess = Preprocess::raw());

}  // namespace condense::data
