#include "linac/formats/case_folder.hpp"

#include <cctype>
#include <nlohmann/json.hpp>
#include <set>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/mask.hpp"
#include "linac/formats/metaimage.hpp"

namespace linac {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A file name listed in case.json must stay inside the case folder.
fs::path member_path(const fs::path& dir, const std::string& file, const std::string& where) {
  const fs::path p(file);
  if (file.empty() || p.is_absolute() || p.lexically_normal().string().rfind("..", 0) == 0) {
    throw InputError(where, "file name '" + file + "' must be relative and inside the case folder");
  }
  return dir / p;
}

std::string get_string(const json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) throw InputError(where, std::string("missing field \"") + key + "\"");
  if (!it->is_string()) {
    throw InputError(where, std::string("field \"") + key + "\" must be a string");
  }
  return it->get<std::string>();
}

}  // namespace

Case load_case(const fs::path& dir) {
  const fs::path index = dir / "case.json";
  if (!fs::is_directory(dir)) {
    throw InputError(dir.string(), fs::exists(dir) ? "not a case folder" : "no such folder");
  }
  if (!fs::exists(index)) throw InputError(index.string(), "no such file (not a case folder)");
  const std::string where = index.string();
  json j;
  try {
    j = json::parse(read_text_file(index));
  } catch (const json::parse_error& e) {
    throw InputError(where,
                     std::string("bad JSON at byte ") + std::to_string(e.byte) + ": " + e.what());
  }
  if (!j.is_object()) throw InputError(where, "top level must be a JSON object");
  if (get_string(j, "format", where) != "linac-case") {
    throw InputError(where, "field \"format\" must be \"linac-case\"");
  }
  if (const auto v = j.find("format_version");
      v == j.end() || !v->is_number_integer() || v->get<int>() != 1) {
    throw InputError(where, "field \"format_version\" must be 1");
  }
  Case c;
  c.name = j.contains("name") ? get_string(j, "name", where) : dir.filename().string();
  try {
    c.patient_position =
        iec::parse_patient_position(j.value("patient_position", std::string("HFS")));
  } catch (const InputError& e) {
    throw InputError(where, e.what());
  }
  c.ct = read_metaimage<std::int16_t>(member_path(dir, get_string(j, "ct", where), where));
  const auto structures = j.find("structures");
  if (structures == j.end() || !structures->is_array()) {
    throw InputError(where, "field \"structures\" must be an array");
  }
  std::set<std::string> seen;
  for (std::size_t n = 0; n < structures->size(); ++n) {
    const json& s = (*structures)[n];
    const std::string swhere = where + ": structures[" + std::to_string(n) + "]";
    if (!s.is_object()) throw InputError(swhere, "must be an object");
    Structure st;
    st.name = get_string(s, "name", swhere);
    if (st.name.empty()) throw InputError(swhere, "empty structure name");
    if (!seen.insert(st.name).second) {
      throw InputError(swhere, "structure '" + st.name + "' listed twice");
    }
    st.role = s.contains("role") ? get_string(s, "role", swhere) : "organ";
    const fs::path file = member_path(dir, get_string(s, "file", swhere), swhere);
    st.mask = read_metaimage<std::uint8_t>(file);
    if (!st.mask.grid().same_as(c.ct.grid())) {
      throw InputError(file.string(), "mask grid of '" + st.name + "' differs from the CT grid");
    }
    for (auto& v : st.mask.data()) v = v != 0 ? 1 : 0;
    c.structures.push_back(std::move(st));
  }
  if (const auto m = j.find("metadata"); m != j.end() && m->is_object()) {
    for (const auto& [k, v] : m->items())
      c.metadata[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  return c;
}

void save_case(const Case& c, const fs::path& dir, bool compress) {
  fs::create_directories(dir);
  const MetaImageWriteOptions opts{compress};
  write_metaimage(dir / "ct.mha", c.ct, opts);
  json j;
  j["format"] = "linac-case";
  j["format_version"] = 1;
  j["name"] = c.name;
  j["patient_position"] = iec::to_string(c.patient_position);
  j["ct"] = "ct.mha";
  j["structures"] = json::array();
  for (const auto& s : c.structures) {
    std::string file;
    for (const char ch : s.name) file += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    file += ".mha";
    write_metaimage(dir / file, s.mask, opts);
    j["structures"].push_back({{"name", s.name}, {"file", file}, {"role", s.role}});
  }
  j["metadata"] = json::object();
  for (const auto& [k, v] : c.metadata) j["metadata"][k] = v;
  const std::string text = j.dump(2) + "\n";
  write_file_atomically(dir / "case.json", {text});
}

}  // namespace linac
