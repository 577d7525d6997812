#include "autograd/optim_cli.h"

#include <charconv>
#include <cmath>

namespace condense::train::detail {

bool parse_double(std::string_view s, double& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

bool parse_int64(std::string_view s, int64_t& out) {
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

Result<SpecArgs> SpecArgs::parse(std::string_view text, std::string_view what) {
  SpecArgs a;
  a.what_ = std::string(what);
  a.text_ = std::string(text);
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  a.kind_ = std::string(parts[0]);
  if (a.kind_.empty()) return a.fail("is empty or starts with ':'");
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p.empty()) return a.fail("argument {} is empty", i);
    size_t eq = p.find('=');
    if (eq == std::string_view::npos) {
      if (!a.named_.empty())
        return a.fail("positional argument '{}' after a key=value argument", p);
      a.positional_.emplace_back(p);
    } else {
      if (eq == 0 || eq + 1 == p.size()) return a.fail("argument '{}' is not key=value", p);
      a.named_.emplace_back(std::string(p.substr(0, eq)), std::string(p.substr(eq + 1)));
    }
  }
  return a;
}

Status SpecArgs::bind(std::initializer_list<std::string_view> names) {
  std::vector<std::string_view> order(names);
  std::string known;
  for (std::string_view n : order) known += fmt::format("{}{}", known.empty() ? "" : ", ", n);
  if (positional_.size() > order.size()) {
    if (order.empty()) return fail("'{}' takes no arguments", kind_);
    return fail("too many arguments: '{}' takes at most {} ({})", kind_, order.size(), known);
  }
  values_.clear();
  for (size_t i = 0; i < positional_.size(); ++i) values_[std::string(order[i])] = positional_[i];
  for (const auto& [key, value] : named_) {
    bool ok = false;
    for (std::string_view n : order) ok = ok || n == key;
    if (!ok) {
      if (order.empty()) return fail("'{}' takes no arguments (got '{}')", kind_, key);
      return fail("unknown argument '{}' (known: {})", key, known);
    }
    if (values_.count(key)) return fail("argument '{}' is given twice", key);
    values_[key] = value;
  }
  return Status::ok();
}

Result<double> SpecArgs::number(std::string_view name, double fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  double v;
  if (!parse_double(it->second, v)) return fail("{} must be a number (got '{}')", name, it->second);
  return v;
}

Result<int64_t> SpecArgs::integer(std::string_view name, int64_t fallback) const {
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return fallback;
  int64_t v;
  if (!parse_int64(it->second, v))
    return fail("{} must be an integer (got '{}')", name, it->second);
  return v;
}

std::string SpecArgs::word(std::string_view name, std::string fallback) const {
  auto it = values_.find(std::string(name));
  return it == values_.end() ? fallback : it->second;
}

Result<std::vector<int64_t>> SpecArgs::integers(std::string_view name) const {
  std::vector<int64_t> out;
  auto it = values_.find(std::string(name));
  if (it == values_.end()) return out;
  std::string_view s = it->second;
  size_t start = 0;
  while (true) {
    size_t comma = s.find(',', start);
    std::string_view item =
        s.substr(start, comma == std::string_view::npos ? comma : comma - start);
    int64_t v;
    if (!parse_int64(item, v))
      return fail("{} must be a comma-separated list of integers (got '{}')", name, s);
    out.push_back(v);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace condense::train::detail
