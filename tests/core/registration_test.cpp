// Rigid registration: the same images give the same result whatever the number of threads
// (the metric's sums are ordered), and the correlation at the result says whether it matched.
#include "linac/core/registration.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "linac/core/resample.hpp"

namespace linac {
namespace {

/// A 64^3 phantom at 3 mm: a body, two organs of other densities and a bony rod.
Volume<float> phantom() {
  Grid g;
  g.dims = {64, 64, 64};
  g.spacing_mm = Eigen::Vector3d::Constant(3.0);
  g.origin_mm = Eigen::Vector3d::Constant(-94.5);
  Volume<float> v(g, -1000.0F);
  for (std::size_t n = 0; n < v.size(); ++n) {
    const auto ijk = g.index_of(n);
    const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
    auto inside = [&](const Eigen::Vector3d& c, const Eigen::Vector3d& r) {
      return (p - c).cwiseQuotient(r).squaredNorm() <= 1.0;
    };
    float hu = -1000.0F;
    if (inside({0, 0, 0}, {80, 60, 85})) hu = 0.0F;
    if (inside({-25, 10, 5}, {30, 20, 35})) hu = 60.0F;
    if (inside({30, -5, -20}, {18, 25, 15})) hu = -80.0F;
    if (std::hypot(p.x() - 5.0, p.y() + 40.0) < 10.0 && std::abs(p.z()) < 70.0) hu = 700.0F;
    v[n] = hu;
  }
  return gaussian_smooth(v, 2.0);
}

TEST(Registration, SameResultWithAnyNumberOfThreads) {
  const Volume<float> fixed = phantom();
  const auto shift = RigidTransform::from_euler_deg({1.0, -0.5, 1.5}, {4.0, -3.0, 2.0});
  const Volume<float> moving =
      resample(fixed, fixed.grid(), Interpolation::kLinear, -1000.0F, shift);
  for (const auto metric :
       {RegistrationMetric::kMeanSquares, RegistrationMetric::kMattesMutualInformation}) {
    RegistrationOptions o;
    o.metric = metric;
    std::vector<RegistrationResult> runs;
    for (const int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      runs.push_back(register_rigid(fixed, moving, o));
    }
    omp_set_num_threads(omp_get_num_procs());
    for (std::size_t k = 1; k < runs.size(); ++k) {
      for (int a = 0; a < 3; ++a) {
        EXPECT_EQ(runs[k].translation_mm[a], runs[0].translation_mm[a]) << to_string(metric);
        EXPECT_EQ(runs[k].rotation_deg[a], runs[0].rotation_deg[a]) << to_string(metric);
      }
      EXPECT_EQ(runs[k].evaluations, runs[0].evaluations);
    }
    EXPECT_TRUE(runs[0].converged);
    EXPECT_GT(runs[0].correlation, 0.95) << to_string(metric);
  }
}

}  // namespace
}  // namespace linac
