// `linac igrt setup`: one fraction's cone-beam CT set-up through the machine (simulated in
// process, or the daemon); `linac igrt register`: the same registration and couch correction for
// two images from elsewhere.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numbers>
#include <optional>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/treatment_record.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/hal/remote_machine.hpp"
#include "linac/igrt/setup.hpp"
#include "linac/simulators/kv_projector.hpp"
#include "linac/simulators/phantom.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {

nlohmann::json vec(const Eigen::Vector3d& v) {
  return {v.x(), v.y(), v.z()};
}

nlohmann::json correction_json(const igrt::CouchCorrection& c) {
  return {{"translation_mm", vec(c.translation_mm)},
          {"rotation_deg", {c.rotation_deg, c.pitch_deg, c.roll_deg}},
          {"axes",
           "IEC 61217 patient support: lateral, longitudinal, vertical; rotation, pitch, "
           "roll"}};
}

// Largest distance between where the anatomy of the box `roi` is and where it was planned.
double residual_mm(const RigidTransform& now_patient_to_fixed, const RigidTransform& planned,
                   const Mask& roi) {
  const auto box = bounding_box(roi);
  if (!box) return 0.0;
  double worst = 0.0;
  for (int corner = 0; corner < 8; ++corner) {
    const Eigen::Vector3d ijk(static_cast<double>((corner & 1) ? box->max[0] : box->min[0]),
                              static_cast<double>((corner & 2) ? box->max[1] : box->min[1]),
                              static_cast<double>((corner & 4) ? box->max[2] : box->min[2]));
    const Eigen::Vector3d p = roi.grid().index_to_world_mm(ijk);
    worst = std::max(worst, (now_patient_to_fixed.apply(p) - planned.apply(p)).norm());
  }
  return worst;
}

void write_comparisons(const fs::path& dir, const std::string& stem, const ImageHU& reference,
                       const ImageHU& cbct_on_reference) {
  const Grid& g = reference.grid();
  const Eigen::Vector3d c = g.world_mm_to_index(Eigen::Vector3d::Zero());
  const struct {
    SliceAxis axis;
    int component;
    const char* name;
  } views[] = {{SliceAxis::kAxial, 2, "axial"}, {SliceAxis::kCoronal, 1, "coronal"}};
  for (const auto& v : views) {
    const auto index = std::clamp<std::int64_t>(std::lround(c[v.component]), 0,
                                                g.dims[v.component == 2 ? 2 : 1] - 1);
    write_comparison_png(dir / (stem + "_overlay_" + v.name + ".png"), reference, cbct_on_reference,
                         v.axis, index, 40.0, 400.0, Comparison::kOverlay);
    write_comparison_png(dir / (stem + "_checkerboard_" + v.name + ".png"), reference,
                         cbct_on_reference, v.axis, index, 40.0, 400.0, Comparison::kCheckerboard);
  }
}

/// `v` with its grid's origin moved by `offset_mm` (the same voxels).
template <typename T>
Volume<T> moved_by(const Volume<T>& v, const Eigen::Vector3d& offset_mm) {
  Grid g = v.grid();
  g.origin_mm += offset_mm;
  Volume<T> out(g);
  out.data() = v.data();
  return out;
}

/// `linac igrt setup`'s command line.
struct SetupRequest {
  std::string case_dir, out, error_text, daemon, server_key, client_key, record_path, plan_path,
      preset;
  int fraction = 1;
  igrt::SetupOptions so;
  std::uint64_t seed = 1;
  bool use_sim = false;
  bool json = false;
  RigidTransform error;  // the patient's set-up error (identity: none given)
};

/// The options parsed and checked (InputError naming the option); empty for --help.
std::optional<SetupRequest> parse_setup(const std::vector<std::string>& args) {
  SetupRequest r;
  igrt::SetupOptions& so = r.so;
  po::options_description opts("options");
  opts.add_options()("case", po::value(&r.case_dir),
                     "planning case (AIP as CT, PTV); default: the built-in patient")(
      "fraction", po::value(&r.fraction)->default_value(1), "fraction number")(
      "setup-error", po::value(&r.error_text),
      "the patient's set-up error tx,ty,tz,rx,ry,rz (mm, deg): placed so with --sim, the truth "
      "to report against with --daemon")("sim", "the in-process simulated Clinac")(
      "daemon", po::value(&r.daemon), "the machine link endpoint")(
      "server-key", po::value(&r.server_key), "the daemon's public key (.pub)")(
      "client-key", po::value(&r.client_key), "this controller's key pair (.key)")(
      "out", po::value(&r.out)->required(), "folder for the CBCT, pictures and setup.json")(
      "projections", po::value(&so.projections)->default_value(180), "projections over 360 deg")(
      "dof", po::value(&so.dof)->default_value(6), "registration degrees of freedom: 3 or 6")(
      "record", po::value(&r.record_path), "treatment record to add the set-up to (needs --plan)")(
      "plan", po::value(&r.plan_path), "the plan the record belongs to")(
      "seed", po::value(&r.seed)->default_value(1), "simulator noise seed")(
      "photons-per-pixel", po::value(&so.photons_per_pixel)->default_value(0.0),
      "quantum noise of the scan: photons reaching each (binned) panel pixel unattenuated, e.g. "
      "20000; 0: none")("preset", po::value(&r.preset)->default_value("body"),
                        "region the registration matches: bone, soft-tissue or body")(
      "no-scatter-correction",
      "reconstruct the CBCT without taking the imager profile's scatter kernel off the "
      "projections (its cupping stays)");
  po::variables_map vm;
  if (!parse("igrt setup",
             "[--case DIR] [--fraction N] [--setup-error tx,ty,tz,rx,ry,rz] (--sim | --daemon "
             "ENDPOINT --server-key PUB --client-key KEY) --out DIR [--json]",
             opts, {}, args, vm)) {
    return std::nullopt;
  }
  r.use_sim = vm.count("sim") != 0;
  if (r.use_sim == !r.daemon.empty()) throw InputError("igrt setup", "give one of --sim, --daemon");
  so.scatter_correction = vm.count("no-scatter-correction") == 0;
  if (so.dof != 3 && so.dof != 6) throw InputError("--dof", "must be 3 or 6");
  if (!(so.photons_per_pixel >= 0.0 && so.photons_per_pixel <= 1e9)) {
    throw InputError("--photons-per-pixel", "must be 0 to 1e9");
  }
  if (!r.record_path.empty() && r.plan_path.empty()) {
    throw InputError("--record", "needs --plan");
  }
  r.error =
      r.error_text.empty() ? RigidTransform() : parse_setup_error("--setup-error", r.error_text);
  r.json = vm.count("json") != 0;
  return r;
}

/// The machine the set-up runs on, brought up: the simulated Clinac (the case's imaging subject
/// placed with the set-up error) or the daemon over the machine link.
struct SetupMachine {
  std::unique_ptr<sim::SimulatedMachine> simulated;
  std::unique_ptr<hal::RemoteMachine> remote;
  hal::Machine* machine = nullptr;

  SetupMachine(const SetupRequest& r, const Case& c, const MachineProfile& profile) {
    if (r.use_sim) {
      simulated = std::make_unique<sim::SimulatedMachine>(r.seed);
      simulated->set_imaging_subject(
          std::make_shared<Volume<float>>(sim::imaging_subject(c, r.error)), c.patient_position);
      machine = &simulated->machine();
    } else {
      hal::RemoteMachineOptions ro;
      ro.endpoint = r.daemon;
      ro.server_public_key = hal::read_curve_public_key(r.server_key);
      ro.client_keys = hal::read_curve_keypair(r.client_key);
      ro.reply_timeout_s = 2.0;  // a projection takes longer than a control cycle
      remote = std::make_unique<hal::RemoteMachine>(ro);
      if (!remote->connect(3.0))
        throw InputError(r.daemon, "no answer from the machine within 3 s");
      machine = &remote->machine();
    }
    if (auto f = machine->bring_up(profile)) {
      throw InputError("machine", "bring-up failed: " + f->describe());
    }
  }
};

/// The CBCT back in the case's coordinates, the voxels every projection measured (for igrt
/// register --moving-mask) and the comparisons with the reference before and after the
/// registration.
void write_setup_images(const fs::path& dir, const igrt::SetupResult& r, const ImageHU& reference,
                        const Eigen::Vector3d& iso) {
  if (r.cbct.image.empty()) return;
  write_metaimage(dir / "cbct.mha", moved_by(r.cbct.image, iso), {true});
  write_metaimage(dir / "cbct_measured.mha", moved_by(r.cbct.measured, iso), {true});
  const ImageHU before =
      resample(r.cbct.image, reference.grid(), Interpolation::kLinear, std::int16_t{-1000});
  write_comparisons(dir, "before", reference, before);
  if (r.registration.evaluations > 0) {
    const ImageHU after = resample(r.cbct.image, reference.grid(), Interpolation::kLinear,
                                   std::int16_t{-1000}, r.registration.fixed_to_moving);
    write_comparisons(dir, "after", reference, after);
  }
}

/// setup.json: the decision, the true error, the correction and registration, the residual at
/// the target's corners after the couch moved, the couch's final offset and the stages' times.
nlohmann::json setup_json(const SetupRequest& q, const igrt::SetupResult& r, const Case& c,
                          const Eigen::Vector3d& iso, const Mask& target_mask) {
  nlohmann::json j;
  j["fraction"] = q.fraction;
  j["isocentre_mm"] = vec(iso);
  j["decision"] = r.decision;
  if (!r.reason.empty()) j["reason"] = r.reason;
  j["true_error"] = {{"translation_mm", vec(q.error.translation_mm())},
                     {"rotation_deg", vec(q.error.euler_deg())}};
  if (r.registration.evaluations > 0) {
    j["correction"] = correction_json(r.correction);
    j["registration"] = {{"translation_mm", vec(r.registration.translation_mm)},
                         {"rotation_deg", vec(r.registration.rotation_deg)},
                         {"converged", r.registration.converged},
                         {"evaluations", r.registration.evaluations}};
  }
  const RigidTransform planned = iec::patient_to_fixed(c.patient_position, {});
  const hal::CouchPose final_couch = r.couch_moved ? r.couch_after : r.couch_before;
  j["residual_mm"] = residual_mm(
      iec::patient_to_fixed(c.patient_position, hal::couch_state(final_couch)) * q.error, planned,
      target_mask);
  j["couch_moved"] = r.couch_moved;
  j["couch_after"] = correction_json(igrt::difference(final_couch, hal::CouchPose{}));
  j["projections"] = r.cbct.projections;
  j["scatter_correction"] = q.so.scatter_correction;
  j["acquire_s"] = r.acquire_s;
  j["recon_s"] = r.recon_s;
  j["register_s"] = r.register_s;
  return j;
}

/// The decision, the couch correction and the residual on stdout.
void print_setup(const igrt::SetupResult& r, const nlohmann::json& j) {
  std::printf("decision: %s%s\n", r.decision.c_str(),
              r.reason.empty() ? "" : (" (" + r.reason + ")").c_str());
  if (r.registration.evaluations > 0) {
    std::printf("couch correction: %s %s %s mm, rotation %s pitch %s roll %s deg\n",
                format_measured(r.correction.translation_mm.x(), 2).c_str(),
                format_measured(r.correction.translation_mm.y(), 2).c_str(),
                format_measured(r.correction.translation_mm.z(), 2).c_str(),
                format_measured(r.correction.rotation_deg, 2).c_str(),
                format_measured(r.correction.pitch_deg, 2).c_str(),
                format_measured(r.correction.roll_deg, 2).c_str());
  }
  std::printf("residual %s mm; recon %.2f s, registration %.2f s\n",
              format_measured(j["residual_mm"].get<double>(), 2).c_str(), r.recon_s, r.register_s);
}

}  // namespace

int cmd_igrt_setup(const std::vector<std::string>& args) {
  std::optional<SetupRequest> request = parse_setup(args);
  if (!request) return kOk;
  SetupRequest& q = *request;
  q.so.progress = [&q](const std::string& s) {
    if (!q.json) std::cerr << s << std::endl;
  };
  const MachineProfile profile = default_machine_profile();
  Case c;
  if (q.case_dir.empty()) {
    sim::PhantomOptions po;
    po.spacing_mm = 3.0;
    c = sim::make_builtin_patient(po);
  } else {
    c = load_case_or_dicom(q.case_dir);
  }
  const Eigen::Vector3d iso = treatment_isocentre_mm(c);
  const ImageHU reference = centred_on(c.ct, iso);
  const Mask roi = centred_on(igrt::registration_region(c, q.preset), iso);
  const Structure* target = c.find("PTV") != nullptr ? c.find("PTV") : c.find("liver");
  const Mask target_mask = target != nullptr ? centred_on(target->mask, iso) : roi;

  SetupMachine m(q, c, profile);
  q.so.position = c.patient_position;
  const igrt::SetupResult r = igrt::run_setup(*m.machine, profile, reference, &roi, q.so);

  const fs::path dir(q.out);
  fs::create_directories(dir);
  write_setup_images(dir, r, reference, iso);
  nlohmann::json j = setup_json(q, r, c, iso, target_mask);
  if (!q.record_path.empty()) {
    const Plan plan = read_plan(q.plan_path);
    delivery::TreatmentRecord record(q.record_path, plan_checksum(plan), plan.label);
    record.record_setup(q.fraction, r.decision, j.dump());
    j["record"] = q.record_path;
  }
  write_file_atomically(dir / "setup.json", {j.dump(1)});
  if (q.json) {
    std::cout << j.dump() << "\n";
  } else {
    print_setup(r, j);
  }
  return r.decision == "apply" ? kOk : kNotCompleted;
}

namespace {

/// `linac igrt register`'s command line.
struct RegisterRequest {
  std::string reference_path, moving_path, mask_path, moving_mask_path,
      metric = "mean_squares", position = "HFS", case_dir, preset;
  int dof = 6;
  double high_pass_mm = kCbctHighPassMm;
  bool json = false;
};

/// The options parsed and checked (InputError naming the option); empty for --help.
std::optional<RegisterRequest> parse_register(const std::vector<std::string>& args) {
  RegisterRequest q;
  po::options_description opts("options");
  opts.add_options()("reference", po::value(&q.reference_path),
                     "planning image (.mha, or a folder with a DICOM CT series), isocentre at its "
                     "origin")("moving", po::value(&q.moving_path)->required(),
                               "the day's image (.mha or a DICOM series folder, e.g. a CBCT)")(
      "mask", po::value(&q.mask_path), "region of the reference to match (.mha mask)")(
      "moving-mask", po::value(&q.moving_mask_path),
      "region of the moving image to trust (.mha mask on its grid), e.g. a CBCT's measured "
      "voxels (cbct_measured.mha from igrt setup, --measured-out of igrt recon)")(
      "case", po::value(&q.case_dir),
      "the planning case as the reference (its CT) instead of --reference")(
      "preset", po::value(&q.preset),
      "with --case, the region to match: bone, soft-tissue or body (default body)")(
      "dof", po::value(&q.dof)->default_value(6), "3 (translations) or 6")(
      "metric", po::value(&q.metric)->default_value("mean_squares"),
      "mean_squares, ncc or mattes_mi")(
      "high-pass-mm", po::value(&q.high_pass_mm)->default_value(kCbctHighPassMm),
      "sigma (mm) of the smooth background (a CBCT's cupping and scatter) taken off both images "
      "on the fine levels (mean squares, ncc); 0: off, e.g. for two CTs")(
      "position", po::value(&q.position)->default_value("HFS"), "patient position");
  po::variables_map vm;
  if (!parse("igrt register",
             "(--reference A.mha|DIR [--mask M.mha] | --case DIR [--preset bone|soft-tissue|body]) "
             "--moving B.mha|DIR [--moving-mask M.mha] [--dof 3|6] [--json]",
             opts, {}, args, vm)) {
    return std::nullopt;
  }
  if (q.dof != 3 && q.dof != 6) throw InputError("--dof", "must be 3 or 6");
  if (!(q.high_pass_mm >= 0.0 && q.high_pass_mm <= 100.0)) {
    throw InputError("--high-pass-mm", "must be 0 to 100 mm");
  }
  q.json = vm.count("json") != 0;
  return q;
}

/// A MetaImage, or a folder holding one DICOM CT series (a planning CT, a CBCT).
ImageHU read_image(const std::string& path) {
  return std::filesystem::is_directory(path) ? formats::import_dicom_case(path).ct
                                             : read_metaimage<std::int16_t>(path);
}

/// The reference and its region to match: the case's CT in its own frame (as `--reference CT`)
/// and the preset's region of it, or the given image and mask.
void read_reference(const RegisterRequest& q, Volume<float>& reference, Mask& mask,
                    RegistrationOptions& o) {
  if (q.case_dir.empty() == q.reference_path.empty()) {
    throw InputError("igrt register", "give one of --reference, --case");
  }
  if (!q.preset.empty() && q.case_dir.empty()) throw InputError("--preset", "needs --case");
  if (!q.case_dir.empty() && !q.mask_path.empty()) throw InputError("--mask", "not with --case");
  if (!q.case_dir.empty()) {
    const Case c = load_case_or_dicom(q.case_dir);
    reference = to_float(c.ct);
    mask = igrt::registration_region(c, q.preset.empty() ? "body" : q.preset);
    o.fixed_mask = &mask;
  } else {
    reference = to_float(read_image(q.reference_path));
    if (!q.mask_path.empty()) {
      mask = read_metaimage<std::uint8_t>(q.mask_path);
      o.fixed_mask = &mask;
    }
  }
}

/// The couch correction (or the refusal: SAFETY.md, no couch move, re-image), the registration
/// and where its evaluations went (one entry per pyramid level, coarse to fine).
nlohmann::json register_json(const RegisterRequest& q, const RegistrationOptions& o,
                             const RegistrationResult& r, const std::string& refusal) {
  nlohmann::json j;
  if (refusal.empty()) {
    hal::CouchPose couch =
        igrt::corrected_couch(r.fixed_to_moving, iec::parse_patient_position(q.position), {});
    if (q.dof == 3) couch.rotation_deg = couch.pitch_deg = couch.roll_deg = 0.0;
    j["correction"] = correction_json(igrt::difference(couch, {}));
  } else {
    j["correction"] = nullptr;
    j["refused"] = refusal;
  }
  j["registration"] = {{"translation_mm", vec(r.translation_mm)},
                       {"rotation_deg", vec(r.rotation_deg)},
                       {"centre_mm", vec(r.centre_mm)},
                       {"metric", q.metric},
                       {"high_pass_mm", o.high_pass_mm},
                       {"converged", r.converged},
                       {"at_search_bound", r.at_search_bound},
                       {"overlap_pct", 100.0 * r.overlap},
                       {"correlation", r.correlation},
                       {"evaluations", r.evaluations},
                       {"seconds", r.seconds}};
  j["registration"]["levels"] = nlohmann::json::array();
  for (const auto& level : r.levels) {
    j["registration"]["levels"].push_back({{"voxel_mm", level.voxel_mm},
                                           {"samples", level.samples},
                                           {"evaluations", level.evaluations},
                                           {"metric", level.metric},
                                           {"prepare_s", level.prepare_seconds},
                                           {"optimise_s", level.optimise_seconds}});
  }
  return j;
}

}  // namespace

int cmd_igrt_register(const std::vector<std::string>& args) {
  const std::optional<RegisterRequest> request = parse_register(args);
  if (!request) return kOk;
  const RegisterRequest& q = *request;
  RegistrationOptions o;
  o.dof = q.dof;
  o.metric = parse_registration_metric(q.metric);
  o.high_pass_mm = q.high_pass_mm;
  (void)iec::parse_patient_position(q.position);  // refused before any image is read
  Mask mask;
  Volume<float> reference;
  read_reference(q, reference, mask, o);
  const Volume<float> moving = to_float(read_image(q.moving_path));
  Mask moving_mask;
  if (!q.moving_mask_path.empty()) {
    moving_mask = read_metaimage<std::uint8_t>(q.moving_mask_path);
    o.moving_mask = &moving_mask;
  }
  const auto r = register_rigid(reference, moving, o);
  const std::string refusal = igrt::registration_refusal(r);
  const nlohmann::json j = register_json(q, o, r, refusal);
  std::cout << (q.json ? j.dump() : j.dump(1)) << "\n";
  if (!refusal.empty()) {
    std::cerr << "linac igrt register: no couch correction: " << refusal << "\n";
    return kNotCompleted;
  }
  return kOk;
}

}  // namespace linac::cli
