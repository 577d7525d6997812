// The grammar shared by the CLI strings of losses and schedules: a kind, then ':'-separated
// arguments, each positional or key=value ("step:30:0.1", "cosine:eta_min=1e-5").
//
//   CONDENSE_ASSIGN_OR_RETURN(auto args, SpecArgs::parse("step:30:gamma=0.5", "schedule"));
//   CONDENSE_TRY(args.bind({"step_size", "gamma"}));   // positional arguments take these names
//   CONDENSE_ASSIGN_OR_RETURN(int64_t size, args.integer("step_size", 30));
#pragma once

#include <condense/status.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace condense::train::detail {

class SpecArgs {
 public:
  // `what` ("loss", "schedule") names the string in errors: "schedule 'step:x': ...".
  static Result<SpecArgs> parse(std::string_view text, std::string_view what);

  const std::string& kind() const { return kind_; }
  // Names the positional arguments in order; fails on more positional arguments than names, on a
  // key that is not one of `names`, and on an argument given twice.
  Status bind(std::initializer_list<std::string_view> names);
  bool has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  // The argument as a finite number / integer / word, or `fallback` when absent.
  Result<double> number(std::string_view name, double fallback) const;
  Result<int64_t> integer(std::string_view name, int64_t fallback) const;
  std::string word(std::string_view name, std::string fallback) const;
  // A comma-separated list of integers ("30,60,90").
  Result<std::vector<int64_t>> integers(std::string_view name) const;

  // "<what> '<text>': <message>"
  template <typename... Args>
  Status fail(fmt::format_string<Args...> f, Args&&... args) const {
    return Status::errorf("{} '{}': {}", what_, text_, fmt::format(f, std::forward<Args>(args)...));
  }

 private:
  std::string what_, text_, kind_;
  std::vector<std::string> positional_;
  std::vector<std::pair<std::string, std::string>> named_;
  std::map<std::string, std::string> values_;  // after bind()
};

// Parses a whole decimal number; false on anything else (trailing characters, empty, overflow).
bool parse_double(std::string_view s, double& out);
bool parse_int64(std::string_view s, int64_t& out);

}  // namespace condense::train::detail
