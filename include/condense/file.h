// Small file helpers shared by the importers and the CLI.
#pragma once

#include <condense/status.h>

#include <string>
#include <string_view>

namespace condense {

// Whole file as bytes; a clear error for a missing, unreadable or directory path.
Result<std::string> read_file(const std::string& path);
// Writes to "<path>.tmp-<pid>-<n>" in the same directory, then renames over `path`, so readers
// never see a partial file. Refuses to write over `protect` (an input) if given.
Status write_file_atomic(const std::string& path, std::string_view bytes,
                         const std::string& protect = "");
// True if both paths name the same existing file.
bool same_file(const std::string& a, const std::string& b);

}  // namespace condense
