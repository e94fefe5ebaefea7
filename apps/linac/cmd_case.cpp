// `linac case make`: writes the built-in patient as a case folder, with preview pictures.
#include <filesystem>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/formats/dicom_case.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/formats/plan_io.hpp"
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

/// The SPECT/CT where `plan structures` looks for it, RT Doses (Gy) and RT Plans beside the case
/// in `dir`; {"doses": [...], "plans": [...], "files": [...]}.
nlohmann::json write_imported_objects(const formats::PatientImport& imported, const fs::path& dir) {
  std::vector<std::string> written;
  if (imported.spect_ct) {
    fs::create_directories(dir / kSpectCtFolder);
    write_metaimage(dir / kSpectCtFolder / "spect.mha", imported.spect_ct->spect, {true});
    write_metaimage(dir / kSpectCtFolder / "ct.mha", imported.spect_ct->ct, {true});
    written.push_back((dir / kSpectCtFolder / "spect.mha").string());
    written.push_back((dir / kSpectCtFolder / "ct.mha").string());
  }
  nlohmann::json doses = nlohmann::json::array();
  for (std::size_t k = 0; k < imported.doses.size(); ++k) {
    const auto& d = imported.doses[k];
    const fs::path file = dir / ("rtdose_" + std::to_string(k + 1) + ".mha");
    write_metaimage(file, d.dose_gy, {true});
    written.push_back(file.string());
    float max_gy = 0.0F;
    for (std::size_t n = 0; n < d.dose_gy.size(); ++n) max_gy = std::max(max_gy, d.dose_gy[n]);
    doses.push_back({{"file", file.string()},
                     {"from", d.file.string()},
                     {"max_gy", max_gy},
                     {"referenced_plan_sop_instance_uid", d.referenced_plan_sop_instance_uid}});
  }
  nlohmann::json plans = nlohmann::json::array();
  for (std::size_t k = 0; k < imported.plans.size(); ++k) {
    const auto& p = imported.plans[k];
    const fs::path file = dir / ("rtplan_" + std::to_string(k + 1) + ".json");
    write_plan(file, p.plan.plan);
    written.push_back(file.string());
    plans.push_back({{"file", file.string()},
                     {"from", p.file.string()},
                     {"sop_instance_uid", p.sop_instance_uid},
                     {"beams", p.plan.plan.beams.size()},
                     {"notes", p.plan.notes}});
  }
  return {{"doses", doses}, {"plans", plans}, {"files", written}};
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
  std::vector<std::string> written = {(dir / "case.json").string()};
  for (const auto& v : kOrthogonalViews) {
    const fs::path file = dir / ("preview_" + std::string(v.name) + ".png");
    write_slice_png(file, c.ct, v.axis, slice_through(v, centre, c.ct.grid()), 40.0, 400.0,
                    overlays);
    written.push_back(file.string());
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
  std::string spect_series;
  opts.add_options()("dicom", po::value(&dicom_dir)->required(), "folder of DICOM files")(
      "out", po::value(&out)->required(), "case folder to write (new or empty)")(
      "series", po::value(&series), "SeriesInstanceUID of the CT, when the folder has several")(
      "spect-series", po::value(&spect_series),
      "SeriesInstanceUID of the SPECT (NM), when the folder has several");
  po::positional_options_description pos;
  pos.add("dicom", 1);
  po::variables_map vm;
  if (!parse("case import", "DICOM_DIR --out CASE [--series UID] [--spect-series UID] [--json]",
             opts, pos, args, vm)) {
    return kOk;
  }
  require_new_or_empty_folder(out);
  formats::PatientImport imported = formats::import_dicom_patient(dicom_dir, series, spect_series);
  Case& c = imported.patient;
  const fs::path dir(out);
  if (imported.spect_ct) {
    c.metadata["spect_series_instance_uid"] = imported.spect_ct->spect_series_instance_uid;
    c.metadata["spect_ct_series_instance_uid"] = imported.spect_ct->ct_series_instance_uid;
  }
  save_case(c, dir);
  const nlohmann::json objects = write_imported_objects(imported, dir);
  if (vm.count("json") != 0) {
    auto j = case_summary_json(c);
    j["case_dir"] = out;
    if (imported.spect_ct) {
      const Grid& g = imported.spect_ct->spect.grid();
      j["spect_ct"] = {{"spect_series_instance_uid", imported.spect_ct->spect_series_instance_uid},
                       {"ct_series_instance_uid", imported.spect_ct->ct_series_instance_uid},
                       {"spect_dims", {g.dims[0], g.dims[1], g.dims[2]}},
                       {"spect_spacing_mm", {g.spacing_mm.x(), g.spacing_mm.y(), g.spacing_mm.z()}},
                       {"spect_origin_mm", {g.origin_mm.x(), g.origin_mm.y(), g.origin_mm.z()}}};
    }
    j["doses"] = objects["doses"];
    j["plans"] = objects["plans"];
    j["notes"] = imported.notes;
    j["files"] = objects["files"];
    std::cout << j.dump(2) << "\n";
  } else {
    print_case_summary(c);
    std::cout << "wrote " << out << " (case.json, ct.mha, " << c.structures.size() << " masks"
              << (imported.spect_ct ? ", the SPECT/CT in " + std::string(kSpectCtFolder) + "/" : "")
              << ", " << imported.doses.size() << " RT Dose, " << imported.plans.size()
              << " RT Plan)\n";
    for (const auto& n : imported.notes) std::cout << "note: " << n << "\n";
  }
  return kOk;
}

}  // namespace linac::cli
