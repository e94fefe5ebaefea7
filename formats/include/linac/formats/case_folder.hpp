#pragma once
// A case folder: a planning CT (.mha, HU) and one mask (.mha) per structure, listed by
// case.json. The built-in patient is written this way, so cases from elsewhere load the same.
//
// case.json:
//   {"format": "linac-case", "format_version": 1, "name": "...", "patient_position": "HFS",
//    "ct": "ct.mha",
//    "structures": [{"name": "liver", "file": "liver.mha", "role": "organ"}, ...],
//    "metadata": {...}}
#include <filesystem>

#include "linac/core/case.hpp"

namespace linac {

/// Reads case.json in `dir` and every file it lists; masks must share the CT's grid.
/// Throws InputError naming the file and what is wrong.
Case load_case(const std::filesystem::path& dir);

/// Writes the case folder (creating it). Images are written zlib-compressed when `compress`.
void save_case(const Case& c, const std::filesystem::path& dir, bool compress = true);

}  // namespace linac
