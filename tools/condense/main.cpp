// condense: the command-line tool. One file per subcommand (cmd_<name>.cpp); each registers
// itself through the table in commands.h.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"condense: compress neural networks (ONNX) and run them fast"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "condense 0.1.0");
  std::vector<condense::cli::Command> cmds = condense::cli::all_commands();
  std::vector<std::function<int()>> runners;
  for (auto& c : cmds) runners.push_back(c.add(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors follow the same one-line form as every other error.
    std::string sub;
    for (const auto* s : app.get_subcommands()) sub = s->get_name();
    std::fprintf(stderr, "error: %s\nhint: run 'condense %s%s--help'\n", e.what(), sub.c_str(),
                 sub.empty() ? "" : " ");
    return 2;
  }
  for (size_t i = 0; i < cmds.size(); ++i)
    if (app.got_subcommand(cmds[i].name)) return runners[i]();
  return 2;
}
