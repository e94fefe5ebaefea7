#include "cli.hpp"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/metaimage.hpp"

namespace linac::cli {

bool parse(const std::string& command, const std::string& usage, po::options_description& options,
           const po::positional_options_description& positional,
           const std::vector<std::string>& args, po::variables_map& vm) {
  options.add_options()("json", "machine-readable JSON output on stdout")("help,h",
                                                                          "show this help");
  po::store(po::command_line_parser(args).options(options).positional(positional).run(), vm);
  if (vm.count("help") != 0) {
    std::cout << "usage: linac " << command << " " << usage << "\n\n" << options << "\n";
    return false;
  }
  po::notify(vm);
  return true;
}

Case load_case_or_dicom(const std::filesystem::path& dir) {
  if (std::filesystem::is_directory(dir) && !std::filesystem::exists(dir / "case.json")) {
    return formats::import_dicom_case(dir);
  }
  return load_case(dir);
}

CaseWithSpectCt load_case_with_spect_ct(const std::filesystem::path& dir) {
  CaseWithSpectCt out;
  if (std::filesystem::is_directory(dir) && !std::filesystem::exists(dir / "case.json")) {
    auto imported = formats::import_dicom_patient(dir);
    out.patient = std::move(imported.patient);
    out.spect_ct = std::move(imported.spect_ct);
    if (out.spect_ct) out.spect_ct_source = "DICOM " + dir.string();
    return out;
  }
  out.patient = load_case(dir);
  const auto folder = dir / kSpectCtFolder;
  if (std::filesystem::exists(folder / "spect.mha") && std::filesystem::exists(folder / "ct.mha")) {
    formats::SpectCtImport s;
    s.spect = read_metaimage<float>(folder / "spect.mha");
    s.ct = read_metaimage<std::int16_t>(folder / "ct.mha");
    out.spect_ct = std::move(s);
    out.spect_ct_source = folder.string();
  }
  return out;
}

nlohmann::json case_summary_json(const Case& c) {
  const Grid& g = c.ct.grid();
  nlohmann::json j;
  j["case"] = c.name;
  j["patient_position"] = iec::to_string(c.patient_position);
  j["image"] = {{"dims", {g.dims[0], g.dims[1], g.dims[2]}},
                {"spacing_mm", {g.spacing_mm.x(), g.spacing_mm.y(), g.spacing_mm.z()}},
                {"origin_mm", {g.origin_mm.x(), g.origin_mm.y(), g.origin_mm.z()}}};
  j["structures"] = nlohmann::json::array();
  for (const auto& s : c.structures) {
    j["structures"].push_back({{"name", s.name},
                               {"role", s.role},
                               {"voxels", count_voxels(s.mask)},
                               {"volume_cm3", volume_cm3(s.mask)}});
  }
  return j;
}

void print_case_summary(const Case& c) {
  const Grid& g = c.ct.grid();
  std::printf("case %s (%s)\n", c.name.c_str(), iec::to_string(c.patient_position).c_str());
  std::printf(
      "grid %lld x %lld x %lld voxels, spacing %.3g x %.3g x %.3g mm, origin (%.2f, %.2f, "
      "%.2f) mm\n",
      static_cast<long long>(g.dims[0]), static_cast<long long>(g.dims[1]),
      static_cast<long long>(g.dims[2]), g.spacing_mm.x(), g.spacing_mm.y(), g.spacing_mm.z(),
      g.origin_mm.x(), g.origin_mm.y(), g.origin_mm.z());
  std::printf("%-16s %-9s %10s %12s\n", "structure", "role", "voxels", "volume_cm3");
  for (const auto& s : c.structures) {
    std::printf("%-16s %-9s %10zu %12.1f\n", s.name.c_str(), s.role.c_str(), count_voxels(s.mask),
                volume_cm3(s.mask));
  }
}

std::vector<double> parse_numbers(const std::string& option, const std::string& text,
                                  std::size_t count, const std::string& what) {
  std::vector<double> v;
  std::string item;
  std::istringstream in(text);
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      v.push_back(std::stod(item, &used));
      if (used != item.size() || !std::isfinite(v.back())) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw InputError(option, "'" + item + "' is not a number");
    }
  }
  if (v.size() != count) {
    throw InputError(option, "expected " + what + ", got " + std::to_string(v.size()) + " values");
  }
  return v;
}

RigidTransform parse_setup_error(const std::string& option, const std::string& text) {
  const auto v = parse_numbers(option, text, 6, "tx,ty,tz,rx,ry,rz (mm and degrees)");
  return RigidTransform::from_euler_deg(Eigen::Vector3d(v[3], v[4], v[5]),
                                        Eigen::Vector3d(v[0], v[1], v[2]));
}

}  // namespace linac::cli
