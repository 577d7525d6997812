// What `condense train` and `condense eval` share: opening a --data spec with the right
// normalization, and printing progress (a redrawn bar on a terminal, plain lines otherwise).
#pragma once

#include <condense/data.h>
#include <condense/ir.h>
#include <condense/status.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>

namespace condense::cli {

// The model metadata key under which `condense train` records the normalization it trained with,
// so `condense eval` (and later compression commands) preprocess the same way by default.
inline constexpr const char* kNormalizeKey = "condense.normalize";

// The normalization to use: `--normalize` when given, else the model's recorded one, else the
// dataset kind's usual one (mnist, fashion-mnist: mnist; cifar10: cifar10; imagefolder:
// imagenet; npz: none).
std::string choose_normalization(const std::string& option, const ir::Graph& model,
                                 const data::DatasetSpec& spec);

struct OpenedData {
  std::unique_ptr<data::Dataset> dataset;
  std::string normalize;  // the normalization string used
};
Result<OpenedData> open_data(const std::string& spec_text, data::Split split,
                             const std::string& normalize_option, const ir::Graph& model,
                             int64_t limit);

// "1:05:07", "3:09"
std::string format_duration(double seconds);

// One status line: redrawn in place on a terminal (at most ~8 times a second), printed as plain
// lines elsewhere (at most one per `plain_every` calls plus the forced ones).
class ProgressLine {
 public:
  explicit ProgressLine(std::FILE* out);
  bool is_terminal() const { return tty_; }
  // `force`: print even when throttled (e.g. an epoch's last step).
  void update(const std::string& text, bool force);
  // Ends the redrawn line (a newline) so later output starts clean.
  void finish();

 private:
  std::FILE* out_;
  bool tty_ = false;
  bool open_ = false;
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace condense::cli
