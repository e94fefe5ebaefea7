// `linac plan optimize`: double-arc 6 MV VMAT for the planning case (PTV 20 Gy in 5 fractions,
// functional liver spared), its baseline without the FLS objective, the final dose from the
// sequenced apertures, DVHs and figures, validation against the machine.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <tuple>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/validator.hpp"
#include "linac/formats/dicom_case.hpp"
#include "linac/formats/dicom_rtdose.hpp"
#include "linac/formats/dicom_rtplan.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/planning/evaluation.hpp"
#include "linac/planning/plan_template.hpp"
#include "linac/planning/vmat.hpp"
#include "plan_free_fluence.hpp"
#include "plan_review_files.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {

double r2(double v) {
  return std::round(v * 100.0) / 100.0;
}

nlohmann::ordered_json figures_json(const planning::DoseFigures& f) {
  return {{"volume_cm3", r2(f.volume_cm3)},
          {"d98_gy", r2(f.d98_gy)},
          {"d95_gy", r2(f.d95_gy)},
          {"d50_gy", r2(f.d50_gy)},
          {"d2_gy", r2(f.d2_gy)},
          {"mean_gy", r2(f.mean_gy)},
          {"max_gy", r2(f.max_gy)},
          {"v5_pct", r2(f.v5_pct)},
          {"v10_pct", r2(f.v10_pct)},
          {"v15_pct", r2(f.v15_pct)},
          {"v20_pct", r2(f.v20_pct)},
          {"alpha_beta_gy", f.alpha_beta_gy},
          {"mean_eqd2_gy", r2(f.mean_eqd2_gy)},
          {"mean_bed_gy", r2(f.mean_bed_gy)}};
}

/// The overlap policy `spared`: the target without the spared structure's voxels becomes the
/// structure the plan is optimised and normalised on ("<target>-<spared>"), and the objectives
/// on the target act on it.
void crop_target(Case& c, planning::VmatOptions& vo) {
  const Structure* spared = c.find(vo.spared);
  if (spared == nullptr) {
    throw InputError("--overlap spared", "the case has no structure '" + vo.spared + "'");
  }
  const std::string name = vo.target + "-" + vo.spared;
  Mask cropped = mask_difference(c.get(vo.target).mask, spared->mask);
  if (count_voxels(cropped) == 0) {
    throw InputError("--overlap spared",
                     "nothing of " + vo.target + " is left outside " + vo.spared);
  }
  c.structures.push_back({name, "target", std::move(cropped)});
  for (auto& o : vo.objectives) {
    if (o.structure == vo.target) o.structure = name;
    if (o.structure == vo.target + "_eval") o.structure = name + "_eval";
  }
  vo.target = name;
}

/// What `linac plan optimize` takes beyond the optimiser's own options.
struct OptimizeRequest {
  std::string case_dir, structures_dir, out, template_file;
  std::string start = "conformal";
  std::string overlap = "target";
  std::vector<std::string> alpha_beta;
  std::map<std::string, double> alpha_beta_gy;  // parsed from alpha_beta
  bool no_baseline = false;
  bool json = false;
  int free_fluence = 0;
  [[nodiscard]] double alpha_beta_of(const std::string& name) const {
    const auto it = alpha_beta_gy.find(name);
    return it != alpha_beta_gy.end() ? it->second : planning::default_alpha_beta(name);
  }
};

po::options_description optimize_options(OptimizeRequest& r, planning::VmatOptions& vo) {
  po::options_description opts("options");
  opts.add_options()("case", po::value(&r.case_dir),
                     "planning case folder with body, liver, FLS and PTV")(
      "structures", po::value(&r.structures_dir),
      "output folder of `linac plan structures` (default: made here on the built-in patient)")(
      "out", po::value(&r.out)->required(), "folder to write")(
      "prescription-gy", po::value(&vo.prescription_gy)->default_value(20.0),
      "PTV prescription (Gy)")("fractions", po::value(&vo.fractions)->default_value(5),
                               "number of fractions")(
      "dose-grid-mm", po::value(&vo.dose_grid_mm)->default_value(3.0), "dose grid spacing")(
      "cp-spacing-deg", po::value(&vo.control_point_spacing_deg)->default_value(2.0),
      "control point spacing along each arc")("iterations",
                                              po::value(&vo.iterations)->default_value(150),
                                              "DAO evaluations per plan (0: the generated or "
                                              "routed apertures kept, their MU fitted)")(
      "points", po::value(&vo.points_per_structure)->default_value(4000),
      "optimisation points per structure")(
      "border-points", po::bool_switch(&vo.target_border_points),
      "every voxel of the target's border an optimisation point too")(
      "fls-weight", po::value(&vo.spared_weight)->default_value(20.0),
      "weight of the FLS mean-dose objective")(
      "alpha-beta", po::value(&r.alpha_beta)->multitoken(),
      "alpha/beta per structure, NAME=GY (defaults: targets 10, liver and FLS 2.5, cord 2, "
      "others 3)")("no-baseline", po::bool_switch(&r.no_baseline),
                   "skip the baseline plan without the FLS objective")(
      "seed", po::value(&vo.seed)->default_value(1), "optimisation point sampling seed")(
      "template", po::value(&r.template_file),
      "plan template (JSON: prescription, fractions, target, arcs, objectives; README)")(
      "spare", po::value(&vo.spared)->default_value("FLS"),
      "the spared structure: the baseline is the plan without its objectives")(
      "apertures", po::value(&r.start)->default_value("conformal"),
      "the optimiser's start: conformal (apertures around the target), generated (column "
      "generation: apertures priced from the objective, for targets around organs) or routed "
      "(each arc's leaf trajectories chosen along the whole arc from the objective's prices)")(
      "exchange-sweeps", po::value(&vo.exchange_sweeps)->default_value(4),
      "generated and routed starts: sweeps of aperture exchange after the apertures are "
      "generated (each control point in turn takes the aperture its neighbours' reach prices "
      "best)")("reroute-passes", po::value(&vo.reroute_passes)->default_value(1),
               "routed start: passes of whole-arc re-routing after the exchange (each arc's "
               "leaf trajectories chosen again on the objective's prices)")(
      "overlap", po::value(&r.overlap)->default_value("target"),
      "where the target and the spared structure overlap: target (optimised to the "
      "prescription) or spared (the target optimised and normalised without the spared "
      "structure's voxels)")(
      "leaf-travel-fraction", po::value(&vo.leaf_travel_fraction)->default_value(0.8),
      "leaf travel per control point the plan may use, as a fraction of what the MLC moves "
      "while the gantry turns one control point's spacing at full speed (above 1 the machine "
      "slows the gantry where the leaves need it)")(
      "generation-travel-fraction", po::value(&vo.generation_travel_fraction)->default_value(0.5),
      "generated and routed starts: the same fraction for the aperture generation")(
      "beamlet-cutoff-mm", po::value(&vo.beamlet_cutoff_mm)->default_value(8.0),
      "the beamlet matrices' kernels cut off so far beyond each beamlet (the full model's "
      "tails are added back by corrections)")(
      "free-fluence", po::value(&r.free_fluence)->default_value(0),
      "also optimise free fluence (one intensity per beamlet, no deliverability) with so many "
      "evaluations and report its figures: how far the geometry lets the spared structure's "
      "dose fall (0: not); give --points enough to take every voxel (free fluence over-fits "
      "sampled points)");
  return opts;
}

/// The options' ranges and names checked (InputError naming the option), the start and the
/// alpha/betas parsed.
void check_optimize_options(OptimizeRequest& r, planning::VmatOptions& vo) {
  if (!(vo.prescription_gy > 0.0 && vo.prescription_gy <= 100.0)) {
    throw InputError("--prescription-gy", "must lie in (0, 100]");
  }
  if (vo.fractions < 1 || vo.fractions > 50) throw InputError("--fractions", "must lie in [1, 50]");
  if (vo.iterations < 0 || vo.iterations > 5000) {
    throw InputError("--iterations", "must lie in [0, 5000]");
  }
  if (vo.exchange_sweeps < 0 || vo.exchange_sweeps > 50) {
    throw InputError("--exchange-sweeps", "must lie in [0, 50]");
  }
  if (vo.reroute_passes < 0 || vo.reroute_passes > 10) {
    throw InputError("--reroute-passes", "must lie in [0, 10]");
  }
  if (!(vo.leaf_travel_fraction > 0.0 && vo.leaf_travel_fraction <= 4.0)) {
    throw InputError("--leaf-travel-fraction", "must lie in (0, 4]");
  }
  if (!(vo.generation_travel_fraction > 0.0 && vo.generation_travel_fraction <= 4.0)) {
    throw InputError("--generation-travel-fraction", "must lie in (0, 4]");
  }
  if (vo.points_per_structure < 100) throw InputError("--points", "must be at least 100");
  if (!(vo.beamlet_cutoff_mm >= 0.0 && vo.beamlet_cutoff_mm <= 150.0)) {
    throw InputError("--beamlet-cutoff-mm", "must lie in [0, 150]");
  }
  if (r.free_fluence < 0 || r.free_fluence > 5000) {
    throw InputError("--free-fluence", "must lie in [0, 5000] evaluations");
  }
  if (r.overlap != "target" && r.overlap != "spared") {
    throw InputError("--overlap", "'" + r.overlap + "' is neither target nor spared");
  }
  if (r.start == "generated") {
    vo.start = planning::VmatOptions::Start::kGenerated;
  } else if (r.start == "routed") {
    vo.start = planning::VmatOptions::Start::kRouted;
  } else if (r.start != "conformal") {
    throw InputError("--apertures", "'" + r.start + "' is not conformal, generated or routed");
  }
  for (const auto& s : r.alpha_beta) {
    const auto eq = s.find('=');
    double v = 0.0;
    if (eq == std::string::npos || std::sscanf(s.c_str() + eq + 1, "%lf", &v) != 1 || !(v > 0)) {
      throw InputError("--alpha-beta", "'" + s + "' is not NAME=GY with GY > 0");
    }
    r.alpha_beta_gy[s.substr(0, eq)] = v;
  }
}

/// The files of the plan in `dir`: rtplan.json (and the baseline's plan and dose), its
/// validation as written (its checksum is that of the file `linac deliver` reads: values that
/// do not round-trip exactly, e.g. -0, must not make the record's checksum differ from
/// validation.json's), the DICOM set (planning CT and structures in dicom/, the plan on that
/// structure set, the dose on that plan: one study and frame of reference) and dose.mha.
delivery::ValidationReport write_plan_files(const fs::path& dir, const Case& c, const Plan& rt,
                                            const planning::VmatResult& plan,
                                            const planning::VmatResult* baseline,
                                            const MachineProfile& profile) {
  write_plan(dir / "rtplan.json", rt);
  auto report = delivery::validate_plan(read_plan(dir / "rtplan.json"), profile);
  std::filesystem::remove_all(dir / "dicom");  // this command's own output of an earlier run
  formats::DicomCaseIds ids;
  ids.patient_id = c.name;
  const auto dicom = formats::write_dicom_case(c, dir / "dicom", ids);
  const std::string rp_uid = write_dicom_rtplan(
      dir / "RP.LiverVMAT.dcm", rt, profile.mlc.leaf_boundaries_mm,
      {"", dicom.ids.study_instance_uid, dicom.ids.structure_set_sop_instance_uid});
  write_file_atomically(dir / "validation.json", {report.to_json()});
  write_metaimage(dir / "dose.mha", plan.dose_gy, {true});
  RtDoseInfo rd;
  rd.patient_id = c.name;
  rd.patient_name = ids.patient_name;
  rd.plan_label = rt.label;
  rd.study_instance_uid = dicom.ids.study_instance_uid;
  rd.frame_of_reference_uid = dicom.ids.frame_of_reference_uid;
  rd.referenced_plan_sop_instance_uid = rp_uid;
  write_dicom_rtdose(dir / "RD.LiverVMAT.dcm", plan.dose_gy, rd);
  if (baseline != nullptr) {
    Plan b = baseline->plan;
    b.patient_id = c.name;
    write_plan(dir / "baseline_rtplan.json", b);
    write_metaimage(dir / "baseline_dose.mha", baseline->dose_gy, {true});
  }
  return report;
}

/// The plan's dose figures beside its baseline's, per structure on the dose grid.
struct PlanReview {
  nlohmann::ordered_json organs = nlohmann::ordered_json::object();
  planning::DoseFigures ptv, fls, liver, ptv_base, fls_base, liver_base;
  planning::ConformityFigures ci;
  /// The FLS outside the PTV (where sparing is possible at all): voxels, summed doses.
  double fls_out_voxels = 0.0, fls_out_gy = 0.0, fls_out_base_gy = 0.0;
};

const Mask* find_on_grid(const std::vector<Structure>& structures, const std::string& name) {
  for (const auto& s : structures) {
    if (s.name == name) return &s.mask;
  }
  return nullptr;
}

const Mask& mask_on_grid(const std::vector<Structure>& structures, const std::string& name) {
  if (const Mask* m = find_on_grid(structures, name)) return *m;
  throw InputError(name, "missing on the dose grid");
}

/// The figures of every reviewed structure (and the DVH files, the difference maps) in `dir`.
PlanReview review_plan(const fs::path& dir, const Case& c, const planning::VmatPlanner& planner,
                       const planning::VmatResult& plan, const planning::VmatResult* baseline,
                       const planning::VmatOptions& vo, const OptimizeRequest& r) {
  PlanReview rv;
  const auto& structures = planner.structures_on_dose_grid();
  const unsigned n = vo.fractions;
  std::vector<PlotSeries> series;
  std::vector<planning::Dvh> curves;
  std::vector<planning::Dvh> base_curves;
  double max_dose = 0.0;
  for (const float v : plan.dose_gy.data()) max_dose = std::max(max_dose, static_cast<double>(v));
  std::size_t colour = 0;
  for (const auto& s : structures) {
    if (s.role == "optimisation" || s.name == "body" || s.name.rfind("lung", 0) == 0 ||
        s.name == "heart" || s.name == "GTV") {
      continue;
    }
    const auto f = planning::dose_figures(plan.dose_gy, s.mask, s.name, n, r.alpha_beta_of(s.name));
    if (f.volume_cm3 <= 0.0) continue;
    const auto h = planning::cumulative_dvh(plan.dose_gy, s.mask, s.name, 0.1);
    curves.push_back(h);
    rv.organs[s.name] = figures_json(f);
    series.push_back(dvh_series(h, s.name, plot_colour(colour), false));
    if (s.name == "PTV") rv.ptv = f;
    if (s.name == "FLS") rv.fls = f;
    if (s.name == "liver") rv.liver = f;
    if (baseline != nullptr) {
      const auto fb =
          planning::dose_figures(baseline->dose_gy, s.mask, s.name, n, r.alpha_beta_of(s.name));
      rv.organs[s.name]["baseline"] = figures_json(fb);
      const auto hb = planning::cumulative_dvh(baseline->dose_gy, s.mask, s.name, 0.1);
      base_curves.push_back(hb);
      if (s.name == "PTV" || s.name == "FLS" || s.name == "liver") {
        series.push_back(dvh_series(hb, s.name + " baseline", plot_colour(colour), true));
      }
      if (s.name == "FLS") rv.fls_base = fb;
      if (s.name == "liver") rv.liver_base = fb;
      if (s.name == "PTV") rv.ptv_base = fb;
    }
    ++colour;
  }
  write_dvh_files(dir, curves, base_curves, series, max_dose);
  if (baseline != nullptr) (void)write_difference_maps(dir, c, plan.dose_gy, baseline->dose_gy, vo);
  rv.ci = planning::conformity(plan.dose_gy, mask_on_grid(structures, "PTV"),
                               mask_on_grid(structures, "body"), vo.prescription_gy);
  const Mask* fls_mask = find_on_grid(structures, "FLS");
  const Mask* ptv_mask = find_on_grid(structures, "PTV");
  if (fls_mask != nullptr && ptv_mask != nullptr) {
    for (std::size_t k = 0; k < fls_mask->size(); ++k) {
      if ((*fls_mask)[k] == 0 || (*ptv_mask)[k] != 0) continue;
      rv.fls_out_gy += static_cast<double>(plan.dose_gy[k]);
      if (baseline != nullptr) rv.fls_out_base_gy += static_cast<double>(baseline->dose_gy[k]);
      rv.fls_out_voxels += 1.0;
    }
  }
  return rv;
}

/// A value, or null without a baseline.
nlohmann::ordered_json or_null(bool has, double v) {
  return has ? nlohmann::ordered_json(r2(v)) : nlohmann::ordered_json(nullptr);
}

/// The optimiser's summary in plan.json: each stage's time, evaluations, the settings it ran
/// with and its normalisation.
void add_optimiser_summary(nlohmann::ordered_json& j, const planning::VmatResult& plan,
                           const planning::VmatResult* baseline,
                           const planning::VmatPlanner& planner, const planning::VmatOptions& vo,
                           const OptimizeRequest& r) {
  auto tenths = [](double s) { return std::round(s * 10.0) / 10.0; };
  j["optimizer_s"] = tenths(plan.optimiser_s);
  if (baseline != nullptr) j["baseline_optimizer_s"] = tenths(baseline->optimiser_s);
  j["dose_s"] = tenths(plan.dose_s);
  j["matrix_s"] = tenths(planner.matrix_s());
  j["matrix_nonzeros"] = planner.matrix_nonzeros();
  j["matrix_mb"] = static_cast<double>(planner.matrix_bytes()) / (1024.0 * 1024.0);
  j["optimisation_points"] = planner.optimisation_points();
  j["evaluations"] = plan.evaluations;
  j["apertures"] = r.start;
  j["overlap"] = r.overlap;
  j["border_points"] = vo.target_border_points;
  j["exchange_sweeps"] = vo.exchange_sweeps;
  j["reroute_passes"] = vo.reroute_passes;
  j["leaf_travel_fraction"] = vo.leaf_travel_fraction;
  j["generation_travel_fraction"] = vo.generation_travel_fraction;
  j["optimised_target"] = vo.target;
  j["generation_s"] = tenths(plan.generation_s);
  j["evaluation_s"] = tenths(plan.evaluation_s);
  j["correction_s"] = tenths(plan.correction_s);
  j["normalisation"] = std::round(plan.normalisation * 10000.0) / 10000.0;
  // What the optimiser's points predicted (1 / their target D95): the gap to the normalisation
  // is the plan's over-fit of its sampled points.
  j["points_normalisation"] = plan.points_target_d95_fraction > 0.0
                                  ? std::round(10000.0 / plan.points_target_d95_fraction) / 10000.0
                                  : 0.0;
  j["dose_grid_mm"] = vo.dose_grid_mm;
}

/// plan.json: the plan's figures beside its baseline's, the machine's verdict and the
/// optimiser's summary (stages' times, evaluations, settings).
nlohmann::ordered_json plan_json(const PlanReview& rv, const Plan& rt,
                                 const planning::VmatResult& plan,
                                 const planning::VmatResult* baseline,
                                 const planning::VmatPlanner& planner,
                                 const planning::VmatOptions& vo, const OptimizeRequest& r,
                                 const delivery::ValidationReport& report, double beam_on_s) {
  const bool has = baseline != nullptr;
  const double voxel_cm3 = plan.dose_gy.grid().voxel_volume_mm3() / 1000.0;
  nlohmann::ordered_json j;
  j["prescription_gy"] = vo.prescription_gy;
  j["fractions"] = vo.fractions;
  j["ptv"] = {{"d98_gy", r2(rv.ptv.d98_gy)},
              {"d95_gy", r2(rv.ptv.d95_gy)},
              {"d50_gy", r2(rv.ptv.d50_gy)},
              {"d2_gy", r2(rv.ptv.d2_gy)},
              {"mean_gy", r2(rv.ptv.mean_gy)},
              {"coverage_pct", r2(rv.ci.coverage_pct)},
              {"paddick_ci", std::round(rv.ci.paddick_ci * 1000.0) / 1000.0},
              {"homogeneity_icru83", std::round(rv.ci.homogeneity_icru83 * 1000.0) / 1000.0}};
  j["fls"] = {
      {"mean_gy", r2(rv.fls.mean_gy)},
      {"baseline_mean_gy", or_null(has, rv.fls_base.mean_gy)},
      {"mean_eqd2_gy", r2(rv.fls.mean_eqd2_gy)},
      {"v5_pct", r2(rv.fls.v5_pct)},
      {"v10_pct", r2(rv.fls.v10_pct)},
      {"v15_pct", r2(rv.fls.v15_pct)},
      {"baseline_v5_pct", or_null(has, rv.fls_base.v5_pct)},
      {"baseline_v10_pct", or_null(has, rv.fls_base.v10_pct)},
      {"baseline_v15_pct", or_null(has, rv.fls_base.v15_pct)},
      {"outside_ptv_pct", rv.fls.volume_cm3 > 0.0
                              ? r2(100.0 * rv.fls_out_voxels * voxel_cm3 / rv.fls.volume_cm3)
                              : 0.0},
      {"outside_ptv_mean_gy", rv.fls_out_voxels > 0 ? r2(rv.fls_out_gy / rv.fls_out_voxels) : 0.0},
      {"baseline_outside_ptv_mean_gy",
       or_null(has && rv.fls_out_voxels > 0,
               rv.fls_out_base_gy / std::max(1.0, rv.fls_out_voxels))}};
  nlohmann::ordered_json tol = nlohmann::ordered_json::array();
  for (const auto& t :
       planning::liver_tolerance(rv.liver.mean_gy, vo.fractions, r.alpha_beta_of("liver"))) {
    tol.push_back({{"reference", t.reference},
                   {"limit_gy_in_plan_fractions", r2(t.limit_gy)},
                   {"liver_mean_gy", r2(t.value_gy)},
                   {"within", t.within}});
  }
  j["liver"] = {{"mean_gy", r2(rv.liver.mean_gy)},
                {"baseline_mean_gy", or_null(has, rv.liver_base.mean_gy)},
                {"mean_eqd2_gy", r2(rv.liver.mean_eqd2_gy)},
                {"tolerance", tol}};
  if (has)
    j["baseline_ptv"] = {{"d95_gy", r2(rv.ptv_base.d95_gy)}, {"d2_gy", r2(rv.ptv_base.d2_gy)}};
  j["total_mu"] = r2(rt.total_mu());
  if (has) j["baseline_total_mu"] = r2(baseline->plan.total_mu());
  j["predicted_beam_on_s"] = std::round(beam_on_s * 10.0) / 10.0;
  j["deliverable"] = report.deliverable;
  j["violations"] = report.violations.size();
  add_optimiser_summary(j, plan, baseline, planner, vo, r);
  j["structures"] = rv.organs;
  return j;
}

/// The terminal's summary: PTV and FLS figures beside the baseline's, MU, beam-on, verdict.
void print_summary(const PlanReview& rv, const Plan& rt, const planning::VmatOptions& vo,
                   bool has_baseline, double beam_on_s, bool deliverable, const fs::path& dir) {
  std::printf("PTV  D95 %.2f Gy, D2 %.2f Gy, D98 %.2f Gy (prescription %.1f Gy in %u)\n",
              rv.ptv.d95_gy, rv.ptv.d2_gy, rv.ptv.d98_gy, vo.prescription_gy, vo.fractions);
  std::printf("FLS  mean %.2f Gy", rv.fls.mean_gy);
  if (has_baseline) {
    std::printf(" (baseline without the FLS objective %.2f Gy)", rv.fls_base.mean_gy);
  }
  if (rv.fls_out_voxels > 0 && has_baseline) {
    std::printf("; outside the PTV %.2f Gy (baseline %.2f Gy)", rv.fls_out_gy / rv.fls_out_voxels,
                rv.fls_out_base_gy / rv.fls_out_voxels);
  }
  std::printf("\nliver mean %.2f Gy\n", rv.liver.mean_gy);
  std::printf("MU %.1f, predicted beam-on %.1f s, %s\n", rt.total_mu(), beam_on_s,
              deliverable ? "deliverable" : "NOT deliverable");
  std::printf("written: %s\n", dir.string().c_str());
}

/// The case to plan: the given one (a case folder, DICOM or `linac plan structures`' output) or
/// the built-in patient's structures made in dir/structures; the template applied to it, the
/// command line's travel options winning over the template's. Empty when making the built-in
/// patient's structures failed (`rc` says how).
std::optional<Case> planning_case(const OptimizeRequest& r, const po::variables_map& vm,
                                  planning::VmatOptions& vo, const fs::path& dir,
                                  const std::function<void(const std::string&)>& progress,
                                  int& rc) {
  // A template and a given case are read and checked before anything is written.
  std::optional<planning::PlanTemplate> plan_template;
  if (!r.template_file.empty()) {
    if (!vm["prescription-gy"].defaulted() || !vm["fractions"].defaulted()) {
      throw InputError("--template", "sets the prescription and fractions itself");
    }
    plan_template = planning::read_plan_template(r.template_file);
  }
  auto apply_template = [&](const Case& cs) {
    if (!plan_template) return;
    std::vector<std::string> names;
    for (const auto& st : cs.structures) names.push_back(st.name);
    planning::apply_plan_template(*plan_template, names, vo);
    if (!vm["leaf-travel-fraction"].defaulted()) {
      vo.leaf_travel_fraction = vm["leaf-travel-fraction"].as<double>();
    }
    if (!vm["generation-travel-fraction"].defaulted()) {
      vo.generation_travel_fraction = vm["generation-travel-fraction"].as<double>();
    }
    if (!vm["reroute-passes"].defaulted()) vo.reroute_passes = vm["reroute-passes"].as<int>();
  };
  fs::path source = !r.structures_dir.empty() ? fs::path(r.structures_dir) : fs::path(r.case_dir);
  if (!source.empty()) {
    Case given = load_case_or_dicom(source);
    apply_template(given);
    fs::create_directories(dir);
    return given;
  }
  fs::create_directories(dir);
  progress("structures: built-in patient (linac plan structures)");
  source = dir / "structures";
  std::vector<std::string> a{"--out", source.string()};
  if (r.json) a.emplace_back("--json");
  std::streambuf* saved = std::cout.rdbuf();
  if (r.json) std::cout.rdbuf(nullptr);  // the structures' JSON is in its own folder
  rc = cmd_plan_structures(a);
  std::cout.rdbuf(saved);
  if (rc != kOk) return std::nullopt;
  Case c = load_case(source);
  apply_template(c);
  return c;
}

}  // namespace

int cmd_plan_optimize(const std::vector<std::string>& args) {
  OptimizeRequest r;
  planning::VmatOptions vo;
  po::options_description opts = optimize_options(r, vo);
  po::variables_map vm;
  if (!parse("plan optimize",
             "[--case DIR | --structures DIR] --out DIR [--iterations 150] [--json]", opts, {},
             args, vm)) {
    return kOk;
  }
  check_optimize_options(r, vo);
  r.json = vm.count("json") != 0;
  auto progress = [&](const std::string& what) {
    if (!r.json) std::cerr << what << std::endl;
  };
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path dir(r.out);
  int rc = kOk;
  std::optional<Case> planned = planning_case(r, vm, vo, dir, progress, rc);
  if (!planned) return rc;
  Case& c = *planned;
  (void)c.get("body");
  if (r.overlap == "spared") crop_target(c, vo);
  (void)c.get(vo.target);
  const MachineProfile profile = default_machine_profile();
  const planning::BeamModel model = planning::default_beam_model();
  progress("dose-influence matrices");
  const planning::VmatPlanner planner(c, profile, model, vo, progress);
  progress("beamlet matrices: " + std::to_string(planner.matrix_nonzeros()) + " values in " +
           std::to_string(planner.matrix_bytes() >> 20) + " MB, " +
           format_number(std::round(planner.matrix_s() * 10.0) / 10.0) + " s");
  planning::VmatResult plan;
  planning::VmatResult baseline;
  if (r.no_baseline) {
    plan = planner.optimise(true);
  } else {
    std::tie(plan, baseline) = planner.optimise_with_baseline();
  }
  const planning::VmatResult* base = r.no_baseline ? nullptr : &baseline;
  nlohmann::ordered_json free_fluence_figures;
  if (r.free_fluence > 0) {
    free_fluence_figures = free_fluence_json(planner, vo, r.free_fluence, plan, base);
  }
  Plan rt = plan.plan;
  rt.patient_id = c.name;
  const auto report = write_plan_files(dir, c, rt, plan, base, profile);
  const PlanReview rv = review_plan(dir, c, planner, plan, base, vo, r);
  double beam_on = 0.0;
  for (const auto& b : report.beams) beam_on += b.predicted_beam_on_s;
  nlohmann::ordered_json j = plan_json(rv, rt, plan, base, planner, vo, r, report, beam_on);
  if (r.free_fluence > 0) j["free_fluence"] = free_fluence_figures;
  j["seconds"] =
      std::round(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() *
                 10.0) /
      10.0;
  write_file_atomically(dir / "plan.json", {j.dump(1)});
  if (r.json) {
    std::cout << j.dump() << "\n";
  } else {
    print_summary(rv, rt, vo, base != nullptr, beam_on, report.deliverable, dir);
  }
  if (!report.deliverable) {
    for (const auto& v : report.violations) {
      std::cerr << "  " << v.beam << " cp " << v.control_point << " " << v.axis << ": " << v.message
                << "\n";
    }
    return kNotDeliverable;
  }
  return kOk;
}

}  // namespace linac::cli
