// `linac plan structures`: the imaging half of planning on the built-in patient or a case: the
// simulated 4DCT and its AIP, the 99mTc-GSA SPECT/CT (the case's own — imported from DICOM or in
// its spect_ct/ — or simulated) fused to the AIP by CT-CT rigid registration, and the functional
// structures FLS, ITV and PTV, written as a case folder.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/text.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/planning/structures.hpp"
#include "linac/simulators/phantom.hpp"
#include "linac/simulators/planning_images.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {

nlohmann::json vec(const Eigen::Vector3d& v) {
  return {v.x(), v.y(), v.z()};
}

/// What `linac plan structures` was asked.
struct StructuresRequest {
  std::string case_dir, out;
  planning::StructureOptions so;
  sim::BreathingOptions breathing;
  std::uint64_t seed = 7;
  sim::PhantomOptions phantom;
  bool json = false;
};

/// The options parsed and checked before any work; nullopt after --help.
std::optional<StructuresRequest> parse_structures(const std::vector<std::string>& args) {
  po::options_description opts("options");
  StructuresRequest q;
  opts.add_options()(
      "case", po::value(&q.case_dir),
      "case folder or DICOM folder with a CT, body and liver, and its SPECT/CT if it has one "
      "(default: the built-in patient)")("out", po::value(&q.out)->required(),
                                         "folder to write (a case folder for planning)")(
      "threshold", po::value(&q.so.threshold)->default_value(0.60),
      "FLS: SPECT >= threshold x its maximum in the liver, in (0, 1]")(
      "margin-mm", po::value(&q.so.margin_mm)->default_value(5.0), "PTV = ITV + margin (mm)")(
      "amplitude-mm", po::value(&q.breathing.amplitude_si_mm)->default_value(10.0),
      "simulated breathing, cranio-caudal peak to peak (mm)")(
      "seed", po::value(&q.seed)->default_value(7), "SPECT/CT simulation seed")(
      "spacing-mm", po::value(&q.phantom.spacing_mm)->default_value(2.5),
      "voxel size of the built-in patient (coarser for quick runs)");
  po::variables_map vm;
  if (!parse("plan structures", "[--case DIR] --out DIR [--threshold 0.6] [--margin-mm 5] [--json]",
             opts, {}, args, vm)) {
    return std::nullopt;
  }
  if (!(q.so.threshold > 0.0 && q.so.threshold <= 1.0)) {
    throw InputError("--threshold", format_number(q.so.threshold) + " is outside (0, 1]");
  }
  if (!(q.so.margin_mm >= 0.0 && q.so.margin_mm <= 50.0)) {
    throw InputError("--margin-mm", format_number(q.so.margin_mm) + " must lie in [0, 50]");
  }
  q.json = vm.count("json") != 0;
  if (!(q.phantom.spacing_mm >= 1.0 && q.phantom.spacing_mm <= 8.0)) {
    throw InputError("--spacing-mm", format_number(q.phantom.spacing_mm) + " must lie in [1, 8]");
  }
  return q;
}

/// The planning case: the AIP as its CT, the liver and GTV at their mean position, the
/// functional structures, and the case's other structures (a case planned before brings its
/// own FLS, ITV and PTV: these replace them).
Case planning_case_of(const Case& c, const StructuresRequest& q, const sim::FourDct& fourdct,
                      const ImageHU& aip, const Mask& liver,
                      const planning::FunctionalStructures& f) {
  Case planning_case;
  planning_case.name = c.name + "-planning";
  planning_case.patient_position = c.patient_position;
  planning_case.ct = aip;
  planning_case.metadata = c.metadata;
  planning_case.metadata["ct"] = "AIP of a " + std::to_string(q.breathing.phases) + "-phase 4DCT";
  planning_case.metadata["fls_threshold"] = format_number(q.so.threshold);
  planning_case.metadata["ptv_margin_mm"] = format_number(q.so.margin_mm);
  for (const auto& s : c.structures) {
    if (s.name == "FLS" || s.name == "ITV" || s.name == "PTV") continue;
    if (s.name == "liver") {
      planning_case.structures.push_back({"liver", "organ", liver});
    } else if (s.name == "GTV" && !fourdct.gtv.empty()) {
      planning_case.structures.push_back(
          {"GTV", "target", planning::mean_position_mask(fourdct.gtv)});
    } else {
      planning_case.structures.push_back(s);
    }
  }
  planning_case.structures.push_back({"FLS", "organ", f.fls});
  planning_case.structures.push_back({"ITV", "target", f.itv});
  planning_case.structures.push_back({"PTV", "target", f.ptv});
  return planning_case;
}

/// The images beside the case: the 4DCT's phases, AIP, MIP, the SPECT/CT and the SPECT on the
/// planning CT; and the structures on the AIP through the PTV's centroid (PNG).
void write_planning_images(const fs::path& dir, const sim::FourDct& fourdct, const ImageHU& aip,
                           const ImageHU& mip, const ImageHU& spect_ct_image,
                           const Volume<float>& spect, const Volume<float>& spect_on_planning,
                           const std::vector<Overlay>& overlays, const Mask& ptv) {
  fs::create_directories(dir / "4dct");
  fs::create_directories(dir / kSpectCtFolder);
  for (std::size_t p = 0; p < fourdct.phases.size(); ++p) {
    char name[48];
    std::snprintf(name, sizeof(name), "ct_phase_%02zu.mha", p);
    write_metaimage(dir / "4dct" / name, fourdct.phases[p], {true});
  }
  write_metaimage(dir / "aip.mha", aip, {true});
  write_metaimage(dir / "mip.mha", mip, {true});
  write_metaimage(dir / kSpectCtFolder / "ct.mha", spect_ct_image, {true});
  write_metaimage(dir / kSpectCtFolder / "spect.mha", spect, {true});
  write_metaimage(dir / "spect_on_planning.mha", spect_on_planning, {true});
  const Eigen::Vector3d centre = aip.grid().world_mm_to_index(centroid_mm(ptv));
  for (const auto& v : kOrthogonalViews) {
    write_slice_png(dir / ("structures_" + std::string(v.name) + ".png"), aip, v.axis,
                    slice_through(v, centre, aip.grid()), 40.0, 400.0, overlays);
  }
}

/// The registration and each functional structure's volume and components, as JSON.
nlohmann::json structures_json(const StructuresRequest& q, const RegistrationResult& r,
                               const planning::FunctionalStructures& f, const Mask& liver) {
  nlohmann::json j;
  j["registration"] = {{"translation_mm", vec(r.translation_mm)},
                       {"rotation_deg", vec(r.rotation_deg)},
                       {"centre_mm", vec(r.centre_mm)},
                       {"metric", to_string(RegistrationMetric::kMeanSquares)},
                       {"metric_value", r.metric},
                       {"evaluations", r.evaluations},
                       {"converged", r.converged},
                       {"seconds", r.seconds}};
  auto structure = [&](const std::string& name, const Mask& m) {
    const auto comps = connected_components(m);
    return nlohmann::json{{"name", name},
                          {"volume_cm3", volume_cm3(m)},
                          {"components", comps.size()},
                          {"largest_component_cm3", comps.empty() ? 0.0 : comps[0].volume_cm3}};
  };
  j["structures"] = {structure("FLS", f.fls), structure("ITV", f.itv), structure("PTV", f.ptv),
                     structure("liver", liver)};
  j["threshold"] = q.so.threshold;
  j["margin_mm"] = q.so.margin_mm;
  j["spect_max_in_liver"] = f.spect_max;
  return j;
}

/// The simulation's truth, to check the registration against (written as truth.json).
nlohmann::json truth_json(const StructuresRequest& q, const sim::SpectCt& simulated,
                          const sim::FourDct& fourdct, const RegistrationResult& r) {
  const RigidTransform truth = simulated.spect_ct_to_planning.inverse();
  const Eigen::Vector3d tc = truth.apply(r.centre_mm) - r.centre_mm;
  nlohmann::json t;
  t["planning_to_spect_ct"] = {{"translation_mm_about_centre", vec(tc)},
                               {"rotation_deg", vec(truth.euler_deg())}};
  t["registration_error_mm_at_centre"] =
      (r.fixed_to_moving.apply(r.centre_mm) - truth.apply(r.centre_mm)).norm();
  t["breathing"] = {{"phases", q.breathing.phases},
                    {"amplitude_si_mm", q.breathing.amplitude_si_mm},
                    {"amplitude_ap_mm", q.breathing.amplitude_ap_mm},
                    {"liver_dome_shift_mm", fourdct.si_shift_mm}};
  t["functional_liver_cm3"] = volume_cm3(simulated.functional_truth);
  return t;
}

void print_structures(const RegistrationResult& r, const nlohmann::json& j, const fs::path& dir) {
  std::printf(
      "registration: translation %s %s %s mm, rotation %s %s %s deg (%d evaluations, "
      "%.2f s)\n",
      format_measured(r.translation_mm.x(), 2).c_str(),
      format_measured(r.translation_mm.y(), 2).c_str(),
      format_measured(r.translation_mm.z(), 2).c_str(),
      format_measured(r.rotation_deg.x(), 3).c_str(),
      format_measured(r.rotation_deg.y(), 3).c_str(),
      format_measured(r.rotation_deg.z(), 3).c_str(), r.evaluations, r.seconds);
  for (const auto& s : j["structures"]) {
    std::printf("%-6s %9.1f cm3 (%zu components)\n", s["name"].get<std::string>().c_str(),
                s["volume_cm3"].get<double>(), s["components"].get<std::size_t>());
  }
  std::printf("wrote %s\n", dir.string().c_str());
}

}  // namespace

int cmd_plan_structures(const std::vector<std::string>& args) {
  const std::optional<StructuresRequest> parsed = parse_structures(args);
  if (!parsed) return kOk;
  const StructuresRequest& q = *parsed;
  auto progress = [&](const std::string& what) {
    if (!q.json) std::cerr << what << std::endl;
  };
  const auto t0 = std::chrono::steady_clock::now();
  // The SPECT/CT comes with the case when it has one (DICOM NM series and its CT, or the case
  // folder's spect_ct/); otherwise it is simulated.
  CaseWithSpectCt loaded;
  if (q.case_dir.empty()) {
    loaded.patient = sim::make_builtin_patient(q.phantom);
  } else {
    loaded = load_case_with_spect_ct(q.case_dir);
  }
  const Case& c = loaded.patient;
  (void)c.get("body");
  (void)c.get("liver");
  progress("patient: " + c.name);
  progress("4DCT: " + std::to_string(q.breathing.phases) + " phases");
  const sim::FourDct fourdct = sim::make_4dct(c, q.breathing);
  const ImageHU aip = planning::average_intensity_projection(fourdct.phases);
  const ImageHU mip = planning::maximum_intensity_projection(fourdct.phases);
  std::optional<sim::SpectCt> simulated;
  if (!loaded.spect_ct) {
    progress("SPECT/CT: simulated");
    sim::SpectCtOptions spect_options;
    spect_options.seed = q.seed;
    simulated = sim::make_spect_ct(c, fourdct, spect_options);
  } else {
    progress("SPECT/CT: " + loaded.spect_ct_source);
  }
  const Volume<float>& spect = simulated ? simulated->spect : loaded.spect_ct->spect;
  const ImageHU& spect_ct_image = simulated ? simulated->ct : loaded.spect_ct->ct;
  progress("registration: SPECT/CT CT -> AIP");
  const Mask& body = c.get("body").mask;
  const auto fusion = planning::fuse_spect(aip, body, spect_ct_image, spect);
  progress("structures");
  const Mask liver = planning::mean_position_mask(fourdct.liver);
  const auto f = planning::make_functional_structures(liver, body, fusion.spect_on_planning, q.so);

  const fs::path dir(q.out);
  save_case(planning_case_of(c, q, fourdct, aip, liver, f), dir);
  const std::vector<Overlay> overlays = {{&body, {255, 255, 0}},
                                         {&liver, {0, 160, 255}},
                                         {&f.fls, {0, 230, 0}},
                                         {&f.itv, {255, 140, 0}},
                                         {&f.ptv, {255, 40, 40}}};
  write_planning_images(dir, fourdct, aip, mip, spect_ct_image, spect, fusion.spect_on_planning,
                        overlays, f.ptv);
  const auto& r = fusion.registration;
  nlohmann::json j = structures_json(q, r, f, liver);
  j["spect_source"] = simulated ? "simulated" : loaded.spect_ct_source;
  if (simulated) {
    const nlohmann::json t = truth_json(q, *simulated, fourdct, r);
    write_file_atomically(dir / "truth.json", {t.dump(1)});
    j["truth"] = t;
  }
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomically(dir / "structures.json", {j.dump(1)});
  if (q.json) {
    std::cout << j.dump() << "\n";
  } else {
    print_structures(r, j, dir);
  }
  return kOk;
}

}  // namespace linac::cli
