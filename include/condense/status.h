// Status and Result<T>: how every fallible condense call reports bad input. No exception crosses
// the library API.
//
//   condense::Result<condense::ir::Graph> g = condense::onnx::import_file("model.onnx");
//   if (!g) { fmt::print(stderr, "error: {}\n", g.status().message()); return 1; }
//   use(*g);
#pragma once

#include <fmt/format.h>

#include <optional>
#include <string>
#include <utility>

namespace condense {

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.failed_ = true;
    s.message_ = std::move(message);
    return s;
  }
  template <typename... Args>
  static Status errorf(fmt::format_string<Args...> f, Args&&... args) {
    return error(fmt::format(f, std::forward<Args>(args)...));
  }

  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }

  // Prefixes context ("while importing node 'x': ") to an error; no-op on success.
  Status with_context(std::string_view context) const {
    if (!failed_) return *this;
    return error(fmt::format("{}: {}", context, message_));
  }

 private:
  bool failed_ = false;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    if (status_.is_ok()) status_ = Status::error("internal: Result built from an ok Status");
  }

  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T&& operator*() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace condense

#define CONDENSE_CONCAT_INNER(a, b) a##b
#define CONDENSE_CONCAT(a, b) CONDENSE_CONCAT_INNER(a, b)

// Returns the Status from the enclosing function if `expr` failed.
#define CONDENSE_TRY(expr)                            \
  do {                                                \
    ::condense::Status condense_try_status_ = (expr); \
    if (!condense_try_status_.is_ok()) return condense_try_status_; \
  } while (0)

// `CONDENSE_ASSIGN_OR_RETURN(auto x, make_x());` declares x from a Result or returns its Status.
#define CONDENSE_ASSIGN_OR_RETURN(lhs, expr)                                      \
  auto CONDENSE_CONCAT(condense_result_, __LINE__) = (expr);                       \
  if (!CONDENSE_CONCAT(condense_result_, __LINE__).is_ok())                        \
    return CONDENSE_CONCAT(condense_result_, __LINE__).status();                   \
  lhs = std::move(CONDENSE_CONCAT(condense_result_, __LINE__)).value()

// Programming-error check that stays on in release builds: prints and aborts.
#define CONDENSE_CHECK(cond)                                                          \
  do {                                                                                \
    if (!(cond)) ::condense::detail::check_failed(#cond, __FILE__, __LINE__, nullptr); \
  } while (0)
#define CONDENSE_CHECK_MSG(cond, msg)                                                 \
  do {                                                                                \
    if (!(cond)) ::condense::detail::check_failed(#cond, __FILE__, __LINE__, (msg));  \
  } while (0)

namespace condense::detail {
[[noreturn]] void check_failed(const char* cond, const char* file, int line, const char* msg);
}
