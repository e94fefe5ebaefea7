// The dose engine and VMAT optimisation on the built-in patient's planning case (AIP, FLS, ITV,
// PTV as `linac plan structures` makes them; 2.5 mm CT): water commissioning scan, the
// dose-influence (beamlet) matrices of two 2-degree arcs on the 3 mm dose grid, one full
// double-arc optimisation with its final dose, the final dose alone, and the main job's plan
// with its baseline (BM_MainJobPlanAndBaseline: the plan-pair time), and one direction
// of split arcs with its two apertures dosed alone and in one fluence map (BM_SplitArcDirection).
// Run with OMP_NUM_THREADS=2 for the figures of a 2-core machine; the optimisation takes minutes.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/core/resample.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/planning/evaluation.hpp"
#include "linac/planning/plan_template.hpp"
#include "linac/planning/structures.hpp"
#include "linac/planning/vmat.hpp"
#include "linac/simulators/phantom.hpp"
#include "linac/simulators/planning_images.hpp"

namespace {

using namespace linac;

Case planning_case() {
  const Case patient = sim::make_builtin_patient();
  const sim::FourDct fourdct = sim::make_4dct(patient);
  const ImageHU aip = planning::average_intensity_projection(fourdct.phases);
  const sim::SpectCt spect = sim::make_spect_ct(patient, fourdct);
  const Mask& body = patient.get("body").mask;
  const auto fusion = planning::fuse_spect(aip, body, spect.ct, spect.spect);
  const Mask liver = planning::mean_position_mask(fourdct.liver);
  const auto f = planning::make_functional_structures(liver, body, fusion.spect_on_planning);
  Case c;
  c.name = "builtin-planning";
  c.ct = aip;
  for (const auto& s : patient.structures) {
    c.structures.push_back(s.name == "liver" ? Structure{"liver", "organ", liver} : s);
  }
  c.structures.push_back({"FLS", "organ", f.fls});
  c.structures.push_back({"ITV", "target", f.itv});
  c.structures.push_back({"PTV", "target", f.ptv});
  return c;
}

const Case& the_case() {
  static const Case c = planning_case();
  return c;
}

void BM_WaterScan10x10(benchmark::State& state) {
  const MachineProfile profile = default_machine_profile();
  const planning::BeamModel model = planning::default_beam_model();
  for (auto _ : state) {
    const auto s =
        planning::water_scan(model, profile.mlc.leaf_boundaries_mm, 100.0, 100.0, 1000.0);
    state.counters["dmax_mm"] = s.dmax_mm;
  }
}
BENCHMARK(BM_WaterScan10x10)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_DoseInfluenceMatrices(benchmark::State& state) {
  const Case& c = the_case();
  const MachineProfile profile = default_machine_profile();
  const planning::BeamModel model = planning::default_beam_model();
  for (auto _ : state) {
    const planning::VmatPlanner planner(c, profile, model, planning::VmatOptions{});
    state.counters["nonzeros"] = static_cast<double>(planner.matrix_nonzeros());
    state.counters["points"] = static_cast<double>(planner.optimisation_points());
  }
}
BENCHMARK(BM_DoseInfluenceMatrices)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

// The final dose of a whole double-arc plan (data/plans/vmat_double_arc.json: 2 x 178 control
// points on the built-in liver) on every body voxel of the 3 mm dose grid: the step
// `linac plan optimize` ends with, and the dose of every logged fraction of a course.
void BM_PlanDose(benchmark::State& state) {
  const Case& c = the_case();
  const MachineProfile profile = default_machine_profile();
  const planning::DoseEngine engine(planning::default_beam_model(), profile.mlc.leaf_boundaries_mm,
                                    c.ct, c.patient_position);
  const Plan plan = read_plan(std::filesystem::path(LINAC_SOURCE_DIR) / "data" / "plans" /
                              "vmat_double_arc.json");
  const Grid grid = planning::dose_grid(c.get("body").mask, 3.0);
  const Mask body = resample(c.get("body").mask, grid, Interpolation::kNearest, std::uint8_t{0});
  const planning::Points points = planning::mask_points(body);
  const Eigen::Vector3d iso = treatment_isocentre_mm(c);
  for (auto _ : state) {
    const auto dose = engine.plan_dose(plan, iso, points);
    state.counters["points"] = static_cast<double>(points.size());
    state.counters["max_gy"] = static_cast<double>(*std::max_element(dose.begin(), dose.end()));
  }
}
BENCHMARK(BM_PlanDose)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

// One beam direction of the main job's split arcs: the two halves' apertures (X jaws over each
// half of a 290 mm target, leaves open over it) at one gantry and collimator angle on every body
// voxel of the 3 mm dose grid, the points prepared once. Arg 0: each aperture's dose alone
// (add_aperture_dose twice); 1: both in one fluence map per kernel (add_apertures_dose), as the
// final doses and the optimiser's corrections now take them. Second argument: every n-th body
// voxel (1: all, the final doses; 12: about the optimiser's 64,000 points, whose corrections'
// cost is mostly the maps).
void BM_SplitArcDirection(benchmark::State& state) {
  const Case& c = the_case();
  const MachineProfile profile = default_machine_profile();
  const planning::DoseEngine engine(planning::default_beam_model(), profile.mlc.leaf_boundaries_mm,
                                    c.ct, c.patient_position);
  const Grid grid = planning::dose_grid(c.get("body").mask, 3.0);
  const Mask body = resample(c.get("body").mask, grid, Interpolation::kNearest, std::uint8_t{0});
  planning::Points points = planning::mask_points(body);
  if (state.range(1) > 1) {  // every n-th point (12: about as many as the optimiser's)
    planning::Points some;
    for (std::size_t n = 0; n < points.size(); n += static_cast<std::size_t>(state.range(1))) {
      some.push_back(points[n]);
    }
    points = some;
  }
  const Eigen::Vector3d iso = treatment_isocentre_mm(c);
  const planning::BeamGeometry g(270.0, 30.0, iso, c.patient_position, 1000.0);
  auto half = [](double x1, double x2) {
    planning::Aperture a{x1,
                         x2,
                         -100.0,
                         100.0,
                         std::vector<double>(60, x2 - 5.0),
                         std::vector<double>(60, x1 + 5.0)};
    return a;
  };
  const std::vector<std::pair<planning::Aperture, double>> halves{{half(-145.0, 5.0), 2.0},
                                                                  {half(-5.0, 145.0), 2.5}};
  const planning::PreparedPoints prepared =
      engine.prepare(g, planning::Aperture{-145.0, 145.0, -100.0, 100.0, {}, {}}, points);
  const bool together = state.range(0) == 1;
  std::vector<float> dose(points.size(), 0.0F);
  for (auto _ : state) {
    std::fill(dose.begin(), dose.end(), 0.0F);
    if (together) {
      engine.add_apertures_dose(prepared, halves, dose);
    } else {
      for (const auto& [a, mu] : halves) engine.add_aperture_dose(prepared, a, mu, dose);
    }
  }
  state.counters["points"] = static_cast<double>(points.size());
  state.counters["max_gy"] = static_cast<double>(*std::max_element(dose.begin(), dose.end()));
}
BENCHMARK(BM_SplitArcDirection)
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({1, 12})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

/// Arg 0: the optimiser started from conformal apertures; 1: from generated apertures.
void BM_VmatOptimisation(benchmark::State& state) {
  const Case& c = the_case();
  const MachineProfile profile = default_machine_profile();
  planning::VmatOptions o;
  o.start = state.range(0) == 0 ? planning::VmatOptions::Start::kConformal
                                : planning::VmatOptions::Start::kGenerated;
  const planning::VmatPlanner planner(c, profile, planning::default_beam_model(), o);
  for (auto _ : state) {
    const auto r = planner.optimise(true);
    state.counters["evaluations"] = r.evaluations;
    state.counters["optimiser_s"] = r.optimiser_s;
    state.counters["generation_s"] = r.generation_s;
    state.counters["evaluation_s"] = r.evaluation_s;
    state.counters["correction_s"] = r.correction_s;
    state.counters["final_dose_s"] = r.dose_s;
    state.counters["total_mu"] = r.plan.total_mu();
    for (const auto& s : planner.structures_on_dose_grid()) {
      if (s.name == "PTV") {
        state.counters["ptv_d95_gy"] =
            planning::dose_figures(r.dose_gy, s.mask, "PTV", 5, 10).d95_gy;
      }
      if (s.name == "FLS") {
        state.counters["fls_mean_gy"] =
            planning::dose_figures(r.dose_gy, s.mask, "FLS", 5, 2.5).mean_gy;
      }
    }
  }
}
BENCHMARK(BM_VmatOptimisation)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(1);

// The main job's plan and its baseline (scripts/run: data/templates/liver-fls-split-uniform.json,
// routed apertures, the PTV's border points, no leaf refinement), planner built once as
// `linac plan optimize` does: the "plan + baseline" time, with the figures it is for.
void BM_MainJobPlanAndBaseline(benchmark::State& state) {
  const Case& c = the_case();
  const MachineProfile profile = default_machine_profile();
  planning::VmatOptions o;
  std::vector<std::string> names;
  for (const auto& s : c.structures) names.push_back(s.name);
  planning::apply_plan_template(
      planning::read_plan_template(std::filesystem::path(LINAC_SOURCE_DIR) / "data" / "templates" /
                                   "liver-fls-split-uniform.json"),
      names, o);
  o.start = planning::VmatOptions::Start::kRouted;
  o.target_border_points = true;
  o.iterations = 0;  // as scripts/run: the routed apertures kept, their MU fitted
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const planning::VmatPlanner planner(c, profile, planning::default_beam_model(), o);
    const auto [plan, baseline] = planner.optimise_with_baseline();
    state.counters["pair_s"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.counters["matrix_s"] = planner.matrix_s();
    state.counters["plan_s"] = plan.optimiser_s;
    state.counters["baseline_s"] = baseline.optimiser_s;
    state.counters["generation_s"] = plan.generation_s + baseline.generation_s;
    state.counters["final_doses_s"] = plan.dose_s;  // both plans' at once
    state.counters["total_mu"] = plan.plan.total_mu();
    for (const auto& s : planner.structures_on_dose_grid()) {
      if (s.name == "PTV") {
        const auto p = planning::dose_figures(plan.dose_gy, s.mask, "PTV", 5, 10);
        state.counters["ptv_d98_gy"] = p.d98_gy;
        state.counters["ptv_d2_gy"] = p.d2_gy;
      }
      if (s.name == "FLS") {
        state.counters["fls_mean_gy"] =
            planning::dose_figures(plan.dose_gy, s.mask, "FLS", 5, 2.5).mean_gy;
        state.counters["fls_baseline_mean_gy"] =
            planning::dose_figures(baseline.dose_gy, s.mask, "FLS", 5, 2.5).mean_gy;
      }
    }
  }
}
BENCHMARK(BM_MainJobPlanAndBaseline)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
