// Planning images on the built-in patient (2.5 mm grid, 193 x 121 x 129): the 10-phase 4DCT,
// the SPECT/CT fusion registration (SPECT/CT CT to the AIP, mean squares, three levels), the
// shape-averaged liver and the FLS/ITV/PTV structures. Run with OMP_NUM_THREADS=2 for the
// figures of a 2-core machine.
#include <benchmark/benchmark.h>

#include "linac/planning/structures.hpp"
#include "linac/simulators/phantom.hpp"
#include "linac/simulators/planning_images.hpp"

namespace {

using namespace linac;

struct Inputs {
  Inputs() {
    patient = sim::make_builtin_patient();
    fourdct = sim::make_4dct(patient);
    aip = planning::average_intensity_projection(fourdct.phases);
    spect_ct = sim::make_spect_ct(patient, fourdct);
  }
  Case patient;
  sim::FourDct fourdct;
  ImageHU aip;
  sim::SpectCt spect_ct;
};

const Inputs& inputs() {
  static const Inputs in;
  return in;
}

void BM_FourDct(benchmark::State& state) {
  const auto& in = inputs();
  for (auto _ : state) benchmark::DoNotOptimize(sim::make_4dct(in.patient).phases.size());
}
BENCHMARK(BM_FourDct)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_SpectFusionRegistration(benchmark::State& state) {
  const auto& in = inputs();
  const RigidTransform truth = in.spect_ct.spect_ct_to_planning.inverse();
  double error_mm = 0.0;
  for (auto _ : state) {
    const auto f = planning::fuse_spect(in.aip, in.patient.get("body").mask, in.spect_ct.ct,
                                        in.spect_ct.spect);
    const Eigen::Vector3d c = f.registration.centre_mm;
    error_mm = (f.registration.fixed_to_moving.apply(c) - truth.apply(c)).norm();
    state.counters["evaluations"] = f.registration.evaluations;
  }
  state.counters["error_mm"] = error_mm;
}
BENCHMARK(BM_SpectFusionRegistration)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_MeanPositionLiver(benchmark::State& state) {
  const auto& in = inputs();
  for (auto _ : state) {
    benchmark::DoNotOptimize(planning::mean_position_mask(in.fourdct.liver).size());
  }
}
BENCHMARK(BM_MeanPositionLiver)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FunctionalStructures(benchmark::State& state) {
  const auto& in = inputs();
  const Mask& body = in.patient.get("body").mask;
  const auto f = planning::fuse_spect(in.aip, body, in.spect_ct.ct, in.spect_ct.spect);
  const Mask liver = planning::mean_position_mask(in.fourdct.liver);
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        planning::make_functional_structures(liver, body, f.spect_on_planning).ptv.size());
  }
}
BENCHMARK(BM_FunctionalStructures)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
