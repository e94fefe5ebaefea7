#pragma once
// The planning module's JSON files (beam models, beam data, plan templates): read and parsed,
// or an InputError naming the file.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"

namespace linac::planning {

inline nlohmann::json read_json_file(const std::filesystem::path& path) {
  try {
    return nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path.string(), std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace linac::planning
