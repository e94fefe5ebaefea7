#pragma once
// Pieces of the self-contained HTML reports: escaping and PNG pictures inlined as data URIs.
#include <filesystem>
#include <string>

namespace linac::cli {

std::string base64(const std::string& data);
/// An <img> with the PNG inlined, or a note that it is not available.
std::string img(const std::filesystem::path& png, const std::string& alt);
/// Text escaped for HTML.
std::string esc(const std::string& s);

}  // namespace linac::cli
