// `linac case make`: writes the built-in patient as a case folder, with preview pictures.
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/formats/dicom_case.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/simulators/phantom.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {
// Output folders of case export / import: never written into one that holds anything.
void require_new_or_empty_folder(const fs::path& out) {
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out))) {
    throw InputError(out.string(),
                     "exists and is not an empty folder; nothing written (give a new one)");
  }
}
}  // namespace

int cmd_case_make(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string out;
  sim::PhantomOptions phantom;
  opts.add_options()("out", po::value(&out)->required(), "case folder to write")(
      "seed", po::value(&phantom.seed)->default_value(sim::kDefaultPatientSeed),
      "variant of the built-in patient")(
      "spacing-mm", po::value(&phantom.spacing_mm)->default_value(2.5),
      "isotropic voxel size in mm, 0.5 to 10")("no-compress", "write uncompressed .mha files");
  po::variables_map vm;
  if (!parse("case make", "--out DIR [--seed N] [--spacing-mm S] [--json]", opts, {}, args, vm)) {
    return kOk;
  }
  if (!(phantom.spacing_mm >= 0.5 && phantom.spacing_mm <= 10.0)) {
    throw InputError("--spacing-mm", "must lie in [0.5, 10] mm");
  }
  const Case c = sim::make_builtin_patient(phantom);
  const fs::path dir(out);
  save_case(c, dir, vm.count("no-compress") == 0);

  // Previews through the liver's centroid with the main structures outlined.
  const Structure& liver = c.get("liver");
  const Eigen::Vector3d centre = c.ct.grid().world_mm_to_index(centroid_mm(liver.mask));
  const std::vector<Overlay> overlays = {
      {&c.get("body").mask, {255, 255, 0}},         {&liver.mask, {0, 160, 255}},
      {&c.get("GTV").mask, {255, 40, 40}},          {&c.get("kidney_left").mask, {0, 220, 0}},
      {&c.get("kidney_right").mask, {0, 220, 0}},   {&c.get("stomach").mask, {255, 140, 0}},
      {&c.get("duodenum").mask, {200, 0, 200}},     {&c.get("bowel").mask, {160, 100, 40}},
      {&c.get("spinal_cord").mask, {255, 255, 255}}};
  const struct {
    SliceAxis axis;
    int component;
    const char* name;
  } views[] = {{SliceAxis::kAxial, 2, "preview_axial.png"},
               {SliceAxis::kCoronal, 1, "preview_coronal.png"},
               {SliceAxis::kSagittal, 0, "preview_sagittal.png"}};
  std::vector<std::string> written = {(dir / "case.json").string()};
  for (const auto& v : views) {
    const auto index = static_cast<std::int64_t>(std::lround(centre[v.component]));
    write_slice_png(dir / v.name, c.ct, v.axis, index, 40.0, 400.0, overlays);
    written.push_back((dir / v.name).string());
  }

  if (vm.count("json") != 0) {
    auto j = case_summary_json(c);
    j["case_dir"] = dir.string();
    j["files"] = written;
    std::cout << j.dump(2) << "\n";
  } else {
    print_case_summary(c);
    std::cout << "wrote " << dir.string() << " (case.json, ct.mha, " << c.structures.size()
              << " masks, 3 previews)\n";
  }
  return kOk;
}

int cmd_case_export(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string case_dir;
  std::string out;
  formats::DicomCaseIds ids;
  opts.add_options()("case", po::value(&case_dir)->required(), "case folder to export")(
      "out", po::value(&out)->required(), "folder for the DICOM files (created)")(
      "patient-id", po::value(&ids.patient_id), "PatientID (default: the case's name)")(
      "patient-name", po::value(&ids.patient_name), "PatientName, DICOM PN (default: empty)");
  po::positional_options_description pos;
  pos.add("case", 1);
  po::variables_map vm;
  if (!parse("case export", "CASE --out DIR [--patient-id ID] [--patient-name NAME] [--json]", opts,
             pos, args, vm)) {
    return kOk;
  }
  require_new_or_empty_folder(out);
  const Case c = load_case_or_dicom(case_dir);
  const auto files = formats::write_dicom_case(c, out, ids);
  if (vm.count("json") != 0) {
    nlohmann::json j;
    j["ct_slices"] = files.ct_slices.size();
    j["structure_set"] = files.structure_set.string();
    j["structures"] = c.structures.size();
    j["contours"] = files.contours;
    j["study_instance_uid"] = files.ids.study_instance_uid;
    j["frame_of_reference_uid"] = files.ids.frame_of_reference_uid;
    j["structure_set_sop_instance_uid"] = files.ids.structure_set_sop_instance_uid;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "wrote " << out << ": " << files.ct_slices.size() << " CT slices, RS.dcm ("
              << c.structures.size() << " structures, " << files.contours << " contours)\n";
  }
  return kOk;
}

int cmd_case_import(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string dicom_dir;
  std::string out;
  std::string series;
  opts.add_options()("dicom", po::value(&dicom_dir)->required(), "folder of DICOM files")(
      "out", po::value(&out)->required(), "case folder to write (new or empty)")(
      "series", po::value(&series), "SeriesInstanceUID of the CT, when the folder has several");
  po::positional_options_description pos;
  pos.add("dicom", 1);
  po::variables_map vm;
  if (!parse("case import", "DICOM_DIR --out CASE [--series UID] [--json]", opts, pos, args, vm)) {
    return kOk;
  }
  require_new_or_empty_folder(out);
  const Case c = formats::import_dicom_case(dicom_dir, series);
  save_case(c, out);
  if (vm.count("json") != 0) {
    auto j = case_summary_json(c);
    j["case_dir"] = out;
    std::cout << j.dump(2) << "\n";
  } else {
    print_case_summary(c);
    std::cout << "wrote " << out << " (case.json, ct.mha, " << c.structures.size() << " masks)\n";
  }
  return kOk;
}

}  // namespace linac::cli
