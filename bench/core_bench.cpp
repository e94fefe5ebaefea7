// Benchmarks of core imaging on the built-in patient: resampling, distance maps, MetaImage I/O,
// and building the patient itself.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "linac/core/distance_map.hpp"
#include "linac/core/resample.hpp"
#include "linac/formats/metaimage.hpp"
#include "linac/simulators/phantom.hpp"

namespace {

const linac::Case& patient() {
  static const linac::Case c = linac::sim::make_builtin_patient();
  return c;
}

void BM_BuildBuiltinPatient(benchmark::State& state) {
  linac::sim::PhantomOptions o;
  o.spacing_mm = static_cast<double>(state.range(0)) / 10.0;
  for (auto _ : state) benchmark::DoNotOptimize(linac::sim::make_builtin_patient(o));
}
BENCHMARK(BM_BuildBuiltinPatient)->Arg(25)->Arg(50)->Unit(benchmark::kMillisecond);

// CT (193 x 121 x 129) onto a rotated 2 mm grid of the same extent, trilinear.
void BM_ResampleCtTrilinear(benchmark::State& state) {
  const auto& ct = patient().ct;
  linac::Grid target = ct.grid();
  target.spacing_mm = Eigen::Vector3d::Constant(2.0);
  for (int a = 0; a < 3; ++a) {
    target.dims[a] = static_cast<std::int64_t>(ct.grid().extent_mm()[a] / 2.0) + 1;
  }
  const auto xf = linac::RigidTransform::from_euler_deg({1.0, -2.0, 3.0}, {2.0, 1.0, -3.0});
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        linac::resample(ct, target, linac::Interpolation::kLinear, std::int16_t{-1000}, xf));
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(target.voxel_count()));
}
BENCHMARK(BM_ResampleCtTrilinear)->Unit(benchmark::kMillisecond);

void BM_DistanceMapLiver(benchmark::State& state) {
  const auto& liver = patient().get("liver").mask;
  for (auto _ : state) benchmark::DoNotOptimize(linac::signed_distance_map_mm(liver));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(liver.size()));
}
BENCHMARK(BM_DistanceMapLiver)->Unit(benchmark::kMillisecond);

void BM_MetaImageWriteRead(benchmark::State& state) {
  const bool compress = state.range(0) != 0;
  const auto path = std::filesystem::temp_directory_path() / "linac-bench-ct.mha";
  for (auto _ : state) {
    linac::write_metaimage(path, patient().ct, {compress});
    benchmark::DoNotOptimize(linac::read_metaimage<std::int16_t>(path));
  }
  std::filesystem::remove(path);
}
BENCHMARK(BM_MetaImageWriteRead)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
