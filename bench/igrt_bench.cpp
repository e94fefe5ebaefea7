// IGRT on the built-in patient (3 mm grid): one kV projection (binning 8, 128 x 96 pixels),
// FDK of a 180-projection half-fan scan onto a 3 mm grid (155 x 155 x 67), and the registration
// of that CBCT to the planning CT. Run with OMP_NUM_THREADS=2 for a 2-core machine's figures;
// bench/compare_registration.py puts plastimatch and elastix beside the registration.
#include <benchmark/benchmark.h>

#include "linac/core/mask.hpp"
#include "linac/core/registration.hpp"
#include "linac/igrt/fdk.hpp"
#include "linac/simulators/kv_projector.hpp"
#include "linac/simulators/phantom.hpp"

namespace {

using namespace linac;

struct Inputs {
  Inputs() {
    sim::PhantomOptions po;
    po.spacing_mm = 3.0;
    patient = sim::make_builtin_patient(po);
    error = RigidTransform::from_euler_deg(Eigen::Vector3d(0.5, -0.5, 1.0),
                                           Eigen::Vector3d(3.0, -2.0, 4.0));
    subject = sim::imaging_subject(patient, error);
    reference = centred_on(patient.ct, treatment_isocentre_mm(patient));
    body = centred_on(patient.get("body").mask, treatment_isocentre_mm(patient));
    const auto imager = default_machine_profile().imager;
    const RigidTransform placement = iec::patient_to_fixed(iec::PatientPosition::kHFS, {});
    for (int k = 0; k < 180; ++k) {
      projections.push_back(
          sim::project_kv(subject, placement, imager, -180.0 + 2.0 * k, {8, true, 0.0}));
    }
    igrt::FdkOptions o;
    o.grid = igrt::cbct_grid(projections.front(), 3.0, 3.0);
    cbct = igrt::reconstruct_fdk(projections, o).image;
  }
  Case patient;
  RigidTransform error;
  Volume<float> subject;
  ImageHU reference;
  Mask body;
  std::vector<hal::KvProjection> projections;
  ImageHU cbct;
};

const Inputs& inputs() {
  static const Inputs in;
  return in;
}

void BM_KvProjection(benchmark::State& state) {
  const auto& in = inputs();
  const auto imager = default_machine_profile().imager;
  const RigidTransform placement = iec::patient_to_fixed(iec::PatientPosition::kHFS, {});
  double g = 0.0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        sim::project_kv(in.subject, placement, imager, g, {8, true, 0.0}).line_integral.size());
    g += 2.0;
  }
}
BENCHMARK(BM_KvProjection)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Fdk180HalfFan(benchmark::State& state) {
  const auto& in = inputs();
  igrt::FdkOptions o;
  o.grid = igrt::cbct_grid(in.projections.front(), 3.0, 3.0);
  for (auto _ : state) benchmark::DoNotOptimize(igrt::reconstruct_fdk(in.projections, o).seconds);
  state.counters["voxels"] = static_cast<double>(o.grid.voxel_count());
}
BENCHMARK(BM_Fdk180HalfFan)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_RegisterCbctToPlanningCt(benchmark::State& state) {
  const auto& in = inputs();
  RegistrationOptions o;
  o.fixed_mask = &in.body;
  o.high_pass_mm = kCbctHighPassMm;  // as igrt setup and igrt register
  double err = 0.0;
  for (auto _ : state) {
    const auto r = register_rigid(to_float(in.reference), to_float(in.cbct), o);
    err =
        (r.fixed_to_moving.apply(Eigen::Vector3d::Zero()) - in.error.apply(Eigen::Vector3d::Zero()))
            .norm();
  }
  state.counters["error_at_isocentre_mm"] = err;
}
BENCHMARK(BM_RegisterCbctToPlanningCt)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
