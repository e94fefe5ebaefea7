// `linac plan structures`: the imaging half of planning on the built-in patient or a case: the
// simulated 4DCT and its AIP, the 99mTc-GSA SPECT/CT (the case's own — imported from DICOM or in
// its spect_ct/ — or simulated) fused to the AIP by CT-CT rigid registration, and the functional
// structures FLS, ITV and PTV, written as a case folder.
#include <chrono>
#include <cstdio>
#include <iostream>

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

}  // namespace

int cmd_plan_structures(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string case_dir, out;
  planning::StructureOptions so;
  sim::BreathingOptions breathing;
  std::uint64_t seed = 7;
  sim::PhantomOptions phantom;
  opts.add_options()(
      "case", po::value(&case_dir),
      "case folder or DICOM folder with a CT, body and liver, and its SPECT/CT if it has one "
      "(default: the built-in patient)")("out", po::value(&out)->required(),
                                         "folder to write (a case folder for planning)")(
      "threshold", po::value(&so.threshold)->default_value(0.60),
      "FLS: SPECT >= threshold x its maximum in the liver, in (0, 1]")(
      "margin-mm", po::value(&so.margin_mm)->default_value(5.0), "PTV = ITV + margin (mm)")(
      "amplitude-mm", po::value(&breathing.amplitude_si_mm)->default_value(10.0),
      "simulated breathing, cranio-caudal peak to peak (mm)")(
      "seed", po::value(&seed)->default_value(7), "SPECT/CT simulation seed")(
      "spacing-mm", po::value(&phantom.spacing_mm)->default_value(2.5),
      "voxel size of the built-in patient (coarser for quick runs)");
  po::variables_map vm;
  if (!parse("plan structures", "[--case DIR] --out DIR [--threshold 0.6] [--margin-mm 5] [--json]",
             opts, {}, args, vm)) {
    return kOk;
  }
  // Refuse bad options before any work.
  if (!(so.threshold > 0.0 && so.threshold <= 1.0)) {
    throw InputError("--threshold", format_number(so.threshold) + " is outside (0, 1]");
  }
  if (!(so.margin_mm >= 0.0 && so.margin_mm <= 50.0)) {
    throw InputError("--margin-mm", format_number(so.margin_mm) + " must lie in [0, 50]");
  }
  const bool json = vm.count("json") != 0;
  auto progress = [&](const std::string& what) {
    if (!json) std::cerr << what << std::endl;
  };
  const auto t0 = std::chrono::steady_clock::now();
  if (!(phantom.spacing_mm >= 1.0 && phantom.spacing_mm <= 8.0)) {
    throw InputError("--spacing-mm", format_number(phantom.spacing_mm) + " must lie in [1, 8]");
  }
  // The SPECT/CT comes with the case when it has one (DICOM NM series and its CT, or the case
  // folder's spect_ct/); otherwise it is simulated.
  CaseWithSpectCt loaded;
  if (case_dir.empty()) {
    loaded.patient = sim::make_builtin_patient(phantom);
  } else {
    loaded = load_case_with_spect_ct(case_dir);
  }
  const Case& c = loaded.patient;
  (void)c.get("body");
  (void)c.get("liver");
  progress("patient: " + c.name);
  progress("4DCT: " + std::to_string(breathing.phases) + " phases");
  const sim::FourDct fourdct = sim::make_4dct(c, breathing);
  const ImageHU aip = planning::average_intensity_projection(fourdct.phases);
  const ImageHU mip = planning::maximum_intensity_projection(fourdct.phases);
  std::optional<sim::SpectCt> simulated;
  if (!loaded.spect_ct) {
    progress("SPECT/CT: simulated");
    sim::SpectCtOptions spect_options;
    spect_options.seed = seed;
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
  const auto fs_ = planning::make_functional_structures(liver, body, fusion.spect_on_planning, so);

  // The planning case: the AIP as its CT, the liver and GTV at their mean position, the
  // functional structures, and the case's other structures.
  Case planning_case;
  planning_case.name = c.name + "-planning";
  planning_case.patient_position = c.patient_position;
  planning_case.ct = aip;
  planning_case.metadata = c.metadata;
  planning_case.metadata["ct"] = "AIP of a " + std::to_string(breathing.phases) + "-phase 4DCT";
  planning_case.metadata["fls_threshold"] = format_number(so.threshold);
  planning_case.metadata["ptv_margin_mm"] = format_number(so.margin_mm);
  for (const auto& s : c.structures) {
    // A case planned before brings its own functional structures: these replace them.
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
  planning_case.structures.push_back({"FLS", "organ", fs_.fls});
  planning_case.structures.push_back({"ITV", "target", fs_.itv});
  planning_case.structures.push_back({"PTV", "target", fs_.ptv});
  const fs::path dir(out);
  save_case(planning_case, dir);
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
  write_metaimage(dir / "spect_on_planning.mha", fusion.spect_on_planning, {true});

  // Pictures: the structures on the AIP through the PTV's centroid.
  const Eigen::Vector3d centre = aip.grid().world_mm_to_index(centroid_mm(fs_.ptv));
  const std::vector<Overlay> overlays = {{&body, {255, 255, 0}},
                                         {&liver, {0, 160, 255}},
                                         {&fs_.fls, {0, 230, 0}},
                                         {&fs_.itv, {255, 140, 0}},
                                         {&fs_.ptv, {255, 40, 40}}};
  for (const auto& v : kOrthogonalViews) {
    write_slice_png(dir / ("structures_" + std::string(v.name) + ".png"), aip, v.axis,
                    slice_through(v, centre, aip.grid()), 40.0, 400.0, overlays);
  }

  const auto& r = fusion.registration;
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
  j["structures"] = {structure("FLS", fs_.fls), structure("ITV", fs_.itv),
                     structure("PTV", fs_.ptv), structure("liver", liver)};
  j["threshold"] = so.threshold;
  j["margin_mm"] = so.margin_mm;
  j["spect_max_in_liver"] = fs_.spect_max;
  j["spect_source"] = simulated ? "simulated" : loaded.spect_ct_source;
  if (simulated) {
    // The simulation's truth, to check the registration against.
    const RigidTransform truth = simulated->spect_ct_to_planning.inverse();
    const Eigen::Vector3d tc = truth.apply(r.centre_mm) - r.centre_mm;
    nlohmann::json t;
    t["planning_to_spect_ct"] = {{"translation_mm_about_centre", vec(tc)},
                                 {"rotation_deg", vec(truth.euler_deg())}};
    t["registration_error_mm_at_centre"] =
        (r.fixed_to_moving.apply(r.centre_mm) - truth.apply(r.centre_mm)).norm();
    t["breathing"] = {{"phases", breathing.phases},
                      {"amplitude_si_mm", breathing.amplitude_si_mm},
                      {"amplitude_ap_mm", breathing.amplitude_ap_mm},
                      {"liver_dome_shift_mm", fourdct.si_shift_mm}};
    t["functional_liver_cm3"] = volume_cm3(simulated->functional_truth);
    write_file_atomically(dir / "truth.json", {t.dump(1)});
    j["truth"] = t;
  }
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  write_file_atomically(dir / "structures.json", {j.dump(1)});
  if (json) {
    std::cout << j.dump() << "\n";
  } else {
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
  return kOk;
}

}  // namespace linac::cli
