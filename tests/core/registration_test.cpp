// Rigid registration: the same images give the same result whatever the number of threads
// (the metric's sums are ordered), and the correlation at the result says whether it matched.
#include "linac/core/registration.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>

#include "linac/core/error.hpp"
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

/// Largest displacement between two transforms over the corners of a 120 mm cube about the
/// phantom's centre (mm).
double worst_corner_mm(const RigidTransform& a, const RigidTransform& b) {
  double worst = 0.0;
  for (int c = 0; c < 8; ++c) {
    const Eigen::Vector3d p((c & 1) != 0 ? 60.0 : -60.0, (c & 2) != 0 ? 60.0 : -60.0,
                            (c & 4) != 0 ? 60.0 : -60.0);
    worst = std::max(worst, (a.apply(p) - b.apply(p)).norm());
  }
  return worst;
}

// A CBCT's cupping (the middle of the body darker than its rim) and a scatter gradient across it
// are smooth over tens of millimetres: mean squares on the whole image follows them; with their
// background taken off the fine levels (high_pass_mm) it follows the anatomy.
TEST(Registration, HighPassKeepsCuppingAndScatterFromBiasingTheMatch) {
  const Volume<float> fixed = phantom();
  const auto shift = RigidTransform::from_euler_deg({1.0, -0.5, 1.5}, {4.0, -3.0, 2.0});
  Volume<float> moving = resample(fixed, fixed.grid(), Interpolation::kLinear, -1000.0F, shift);
  const RigidTransform truth = shift.inverse();  // fixed -> moving
  const Grid& g = moving.grid();
  for (std::size_t n = 0; n < moving.size(); ++n) {
    if (moving[n] < -500.0F) continue;
    const auto ijk = g.index_of(n);
    const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
    const double r2 = p.x() * p.x() / (80.0 * 80.0) + p.y() * p.y() / (60.0 * 60.0);
    moving[n] += static_cast<float>(-150.0 * std::max(0.0, 1.0 - r2) + 1.0 * p.x());
  }
  RegistrationOptions o;
  o.high_pass_mm = 0.0;
  const RegistrationResult whole = register_rigid(fixed, moving, o);
  o.high_pass_mm = 5.0;
  const RegistrationResult high_pass = register_rigid(fixed, moving, o);
  const double whole_mm = worst_corner_mm(whole.fixed_to_moving, truth);
  const double high_pass_mm = worst_corner_mm(high_pass.fixed_to_moving, truth);
  EXPECT_TRUE(high_pass.converged);
  EXPECT_LT(high_pass_mm, 0.3) << "whole image: " << whole_mm << " mm";
  EXPECT_GT(whole_mm, 1.8 * high_pass_mm) << "high pass: " << high_pass_mm << " mm";
  // Mutual information keeps the whole image (its histogram is its own intensity model).
  o.metric = RegistrationMetric::kMattesMutualInformation;
  const RegistrationResult mi = register_rigid(fixed, moving, o);
  o.high_pass_mm = 0.0;
  const RegistrationResult mi_whole = register_rigid(fixed, moving, o);
  EXPECT_EQ(mi.translation_mm, mi_whole.translation_mm);
}

}  // namespace
}  // namespace linac

namespace linac {
namespace {

// Options out of range and masks that cannot be used are refused before any work, naming what.
TEST(Registration, BadOptionsAndMasksAreRefusedNamingThem) {
  const Volume<float> img = phantom();
  auto refused = [&](const RegistrationOptions& o, const std::string& what) {
    try {
      (void)register_rigid(img, img, o);
      ADD_FAILURE() << "accepted: " << what;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  RegistrationOptions o;
  o.samples = 500;
  refused(o, "samples");
  o = {};
  o.finest_samples = 999;
  refused(o, "samples");
  o = {};
  o.dof = 4;
  refused(o, "dof");
  const Mask empty(img.grid(), 0);
  o = {};
  o.moving_mask = &empty;
  refused(o, "moving mask");
  Grid other = img.grid();
  other.dims[2] = 10;
  const Mask elsewhere(other, 1);
  o = {};
  o.moving_mask = &elsewhere;
  refused(o, "moving mask");
  o = {};
  o.fixed_mask = &empty;
  refused(o, "fixed mask");
}

}  // namespace
}  // namespace linac
