// Anonymised copies of machine logs (machine_log.hpp): what a department sends outside without
// the patient's name and ID, in file names and file contents.
#include <fstream>
#include <iterator>
#include <sstream>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/delivery/machine_log.hpp"

namespace linac::delivery {
namespace {

namespace fs = std::filesystem;
constexpr const char* kAnonymous = "Anonymous";

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open the log to anonymise");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// `name` with every occurrence of each non-trivial identifier replaced.
std::string scrub(std::string name, const std::vector<std::string>& identifiers) {
  for (const auto& id : identifiers) {
    if (id.size() < 2) continue;  // a one-letter "ID" would mangle the name, not hide anyone
    for (std::size_t at = name.find(id); at != std::string::npos;
         at = name.find(id, at + std::char_traits<char>::length(kAnonymous))) {
      name.replace(at, id.size(), kAnonymous);
    }
  }
  return name;
}

fs::path target(const fs::path& out_dir, const std::string& name) {
  const fs::path p = out_dir / name;
  if (fs::exists(p))
    throw InputError(p.string(), "exists already; an anonymised copy never overwrites");
  return p;
}

/// Text with its line `line_index` (0-based) replaced; line endings kept.
std::string replace_line(const std::string& text, std::size_t line_index, const std::string& with) {
  std::size_t begin = 0;
  for (std::size_t n = 0; n < line_index; ++n) {
    begin = text.find('\n', begin);
    if (begin == std::string::npos) return text;
    ++begin;
  }
  std::size_t end = text.find('\n', begin);
  if (end == std::string::npos) end = text.size();
  if (end > begin && text[end - 1] == '\r') --end;
  return text.substr(0, begin) + with + text.substr(end);
}

}  // namespace

std::vector<fs::path> anonymize_log(const MachineLog& log, const fs::path& out_dir) {
  fs::create_directories(out_dir);
  std::vector<fs::path> written;
  if (log.format == "dynalog") {
    const std::vector<std::string> ids{log.patient_id, log.patient_name};
    for (const auto& file : log.files) {
      const std::string text =
          replace_line(read_bytes(file), 1, std::string(kAnonymous) + ",," + kAnonymous);
      const fs::path out = target(out_dir, scrub(file.filename().string(), ids));
      write_file_atomically(out, {text});
      written.push_back(out);
    }
    return written;
  }
  const fs::path& bin = log.files.front();
  const std::string stem = bin.stem().string();
  const std::size_t cut = stem.find('_');
  const std::string id = cut == std::string::npos ? std::string() : stem.substr(0, cut);
  const std::string new_stem = id.empty() ? stem : kAnonymous + stem.substr(cut);
  const fs::path out = target(out_dir, new_stem + bin.extension().string());
  write_file_atomically(out, {read_bytes(bin)});
  written.push_back(out);
  const fs::path txt = bin.parent_path() / (stem + ".txt");
  if (fs::exists(txt)) {
    std::istringstream in(read_bytes(txt));
    std::string text, line;
    while (std::getline(in, line)) {
      if (line.rfind("Patient ID", 0) == 0) line = std::string("Patient ID:\t") + kAnonymous;
      text += scrub(line, {id}) + "\n";
    }
    const fs::path out_txt = target(out_dir, new_stem + ".txt");
    write_file_atomically(out_txt, {text});
    written.push_back(out_txt);
  }
  return written;
}

}  // namespace linac::delivery
