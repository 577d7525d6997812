#include "train_common.h"

#include <fmt/format.h>
#include <unistd.h>

namespace condense::cli {

std::string choose_normalization(const std::string& option, const ir::Graph& model,
                                 const data::DatasetSpec& spec) {
  if (!option.empty()) return option;
  if (auto it = model.metadata.find(kNormalizeKey); it != model.metadata.end()) return it->second;
  if (spec.kind == "mnist" || spec.kind == "fashion-mnist") return "mnist";
  if (spec.kind == "cifar10") return "cifar10";
  if (spec.kind == "imagefolder") return "imagenet";
  return "none";
}

Result<OpenedData> open_data(const std::string& spec_text, data::Split split,
                             const std::string& normalize_option, const ir::Graph& model,
                             int64_t limit) {
  CONDENSE_ASSIGN_OR_RETURN(data::DatasetSpec spec, data::parse_dataset_spec(spec_text));
  OpenedData out;
  out.normalize = choose_normalization(normalize_option, model, spec);
  data::DatasetOptions opts;
  opts.split = split;
  opts.limit = limit;
  CONDENSE_ASSIGN_OR_RETURN(opts.preprocess, data::parse_normalization(out.normalize));
  CONDENSE_ASSIGN_OR_RETURN(out.dataset, data::open_dataset(spec, opts));
  return out;
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressLine::ProgressLine(std::FILE* out) : out_(out), tty_(isatty(fileno(out)) != 0) {}

void ProgressLine::update(const std::string& text, bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_).count();
  if (tty_) {
    if (!force && since < 0.125) return;
    // \r, the text, then clear to the end of the line (ANSI EL).
    fmt::print(out_, "\r{}\x1b[K", text);
    std::fflush(out_);
    open_ = true;
  } else {
    if (!force) return;
    fmt::print(out_, "{}\n", text);
    std::fflush(out_);
  }
  last_ = now;
}

void ProgressLine::finish() {
  if (tty_ && open_) {
    fmt::print(out_, "\n");
    std::fflush(out_);
  }
  open_ = false;
}

}  // namespace condense::cli
