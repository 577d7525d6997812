// The CLI's subcommands. Each cmd_<name>.cpp defines `Command make_<name>_command()`; the list
// below is the one place that names them all.
#pragma once

#include <condense/status.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace condense::cli {

struct Command {
  std::string name;
  // Adds the subcommand and its options to `app`; returns the function that runs it (exit code).
  std::function<std::function<int()>(CLI::App& app)> add;
};

#define CONDENSE_CLI_COMMANDS(X) \
  X(info)                        \
  X(run)                         \
  X(bench)                       \
  X(convert)                     \
  X(zoo)                         \
  X(train)                       \
  X(eval)                        \
  X(calibrate)                   \
  X(quantize)                    \
  X(sensitivity)                 \
  X(compare)                     \
  X(qat)

#define CONDENSE_X(name) Command make_##name##_command();
CONDENSE_CLI_COMMANDS(CONDENSE_X)
#undef CONDENSE_X

inline std::vector<Command> all_commands() {
  return {
#define CONDENSE_X(name) make_##name##_command(),
      CONDENSE_CLI_COMMANDS(CONDENSE_X)
#undef CONDENSE_X
  };
}

// Prints "error: <message>" (and "hint: <hint>" when given) to stderr; returns exit code 1.
int fail(const Status& s, const std::string& hint = "");

}  // namespace condense::cli
