// `linac info [CASE_DIR|IMAGE]`: the grid and each structure's voxel count and volume.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/simulators/phantom.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {

// A single image: its grid; a MET_UCHAR image is also counted as a mask.
int info_image(const fs::path& path, bool json) {
  const MetaImageHeader h = read_metaimage_header(path);
  const Grid& g = h.grid;
  nlohmann::json j;
  j["image"] = {{"file", path.string()},
                {"dims", {g.dims[0], g.dims[1], g.dims[2]}},
                {"spacing_mm", {g.spacing_mm.x(), g.spacing_mm.y(), g.spacing_mm.z()}},
                {"origin_mm", {g.origin_mm.x(), g.origin_mm.y(), g.origin_mm.z()}},
                {"element_type", to_met_string(h.element_type)},
                {"compressed", h.compressed}};
  j["structures"] = nlohmann::json::array();
  if (h.element_type == ElementType::kUInt8) {
    const Mask m = read_metaimage<std::uint8_t>(path);
    j["structures"].push_back({{"name", path.stem().string()},
                               {"voxels", count_voxels(m)},
                               {"volume_cm3", volume_cm3(m)}});
  } else {
    // Read the data too, so that a truncated file is reported here rather than later.
    const auto img = read_metaimage<float>(path);
    float lo = img.data().empty() ? 0.0F : img[0];
    float hi = lo;
    for (const float v : img.data()) lo = std::min(lo, v), hi = std::max(hi, v);
    j["image"]["min"] = lo;
    j["image"]["max"] = hi;
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "image " << path.string() << "\n"
              << "grid " << g.dims[0] << " x " << g.dims[1] << " x " << g.dims[2]
              << " voxels, spacing " << g.spacing_mm.transpose() << " mm, origin "
              << g.origin_mm.transpose() << " mm, " << to_met_string(h.element_type)
              << (h.compressed ? " (compressed)" : "") << "\n";
    for (const auto& s : j["structures"]) {
      std::cout << "mask " << s["name"].get<std::string>() << ": " << s["voxels"] << " voxels, "
                << s["volume_cm3"].get<double>() << " cm3\n";
    }
  }
  return kOk;
}

// A folder of DICOM files (no case.json): its studies, series and objects.
int info_dicom(const fs::path& dir, bool json) {
  const formats::DicomFolder folder = formats::scan_dicom_folder(dir);
  // Series in the order first met: modality, description, UID, object count.
  struct Series {
    std::string study, uid, modality, description, patient;
    std::size_t objects = 0;
  };
  std::vector<Series> series;
  for (const auto& o : folder.objects) {
    auto it = std::find_if(series.begin(), series.end(),
                           [&](const Series& s) { return s.uid == o.series_instance_uid; });
    if (it == series.end()) {
      series.push_back({o.study_instance_uid, o.series_instance_uid, o.modality,
                        o.series_description, o.patient_id, 0});
      it = series.end() - 1;
    }
    ++it->objects;
  }
  nlohmann::json j;
  j["folder"] = dir.string();
  j["series"] = nlohmann::json::array();
  for (const auto& s : series) {
    j["series"].push_back({{"patient_id", s.patient},
                           {"study_instance_uid", s.study},
                           {"series_instance_uid", s.uid},
                           {"modality", s.modality},
                           {"description", s.description},
                           {"objects", s.objects}});
  }
  j["skipped"] = folder.skipped;
  if (json) {
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "DICOM folder " << dir.string() << ": " << folder.objects.size() << " objects in "
              << series.size() << " series\n";
    for (const auto& s : series) {
      std::cout << "  " << s.modality << " x" << s.objects << "  patient " << s.patient
                << "  series " << s.uid
                << (s.description.empty() ? "" : "  '" + s.description + "'") << "\n";
    }
    for (const auto& k : folder.skipped) std::cout << "  skipped " << k << "\n";
  }
  return kOk;
}

}  // namespace

int cmd_info(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string path;
  std::vector<std::string> only;
  sim::PhantomOptions phantom;
  opts.add_options()("path", po::value(&path), "case folder or .mha/.mhd image")(
      "structure", po::value(&only)->composing(), "report only this structure (repeatable)")(
      "seed", po::value(&phantom.seed)->default_value(sim::kDefaultPatientSeed),
      "built-in patient variant, when no path is given")(
      "spacing-mm", po::value(&phantom.spacing_mm)->default_value(2.5),
      "built-in patient voxel size, when no path is given");
  po::positional_options_description pos;
  pos.add("path", 1);
  po::variables_map vm;
  if (!parse("info", "[CASE_DIR|DICOM_DIR|IMAGE] [--structure NAME] [--json]", opts, pos, args,
             vm)) {
    return kOk;
  }
  const bool json = vm.count("json") != 0;
  if (!path.empty() && fs::is_regular_file(path)) {
    if (!only.empty()) throw InputError("--structure", "applies to case folders only");
    return info_image(path, json);
  }
  if (!(phantom.spacing_mm >= 0.5 && phantom.spacing_mm <= 10.0)) {
    throw InputError("--spacing-mm", "must lie in [0.5, 10] mm");
  }
  if (!path.empty() && fs::is_directory(path) && !fs::exists(fs::path(path) / "case.json")) {
    if (!only.empty()) throw InputError("--structure", "applies to case folders only");
    return info_dicom(path, json);
  }
  Case c = path.empty() ? sim::make_builtin_patient(phantom) : load_case(path);
  if (!only.empty()) {
    std::vector<Structure> kept;
    kept.reserve(only.size());
    for (const auto& name : only) kept.push_back(c.get(name));
    c.structures = std::move(kept);
  }
  if (json) {
    std::cout << case_summary_json(c).dump(2) << "\n";
  } else {
    print_case_summary(c);
  }
  return kOk;
}

}  // namespace linac::cli
