#pragma once
// Durable file writing: write a temporary sibling, flush it to disk, then rename over the target,
// so a crash or a full disk never leaves a half-written file under the final name.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace linac {

/// Writes the concatenation of `parts` to `path` atomically. Throws std::runtime_error naming the
/// file and the system error when it cannot.
void write_file_atomically(const std::filesystem::path& path,
                           const std::vector<std::string_view>& parts);

/// Reads a whole file as text. Throws InputError ("no such file" / "cannot read").
std::string read_text_file(const std::filesystem::path& path);

}  // namespace linac
