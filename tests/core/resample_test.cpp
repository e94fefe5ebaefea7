// Resampling against analytic volumes.
#include "linac/core/resample.hpp"

#include <gtest/gtest.h>

namespace linac {
namespace {

using Eigen::Vector3d;

// f(p) = a . p + c is reproduced exactly by trilinear interpolation.
double linear_field(const Vector3d& p) {
  return 0.5 * p.x() - 1.25 * p.y() + 2.0 * p.z() + 7.0;
}

Volume<float> sampled_linear(const Grid& g) {
  Volume<float> v(g);
  for (std::size_t n = 0; n < v.size(); ++n) {
    const Index3 ijk = g.index_of(n);
    v[n] = static_cast<float>(linear_field(g.index_to_world_mm(Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])))));
  }
  return v;
}

Grid source_grid() {
  Grid g;
  g.dims = {40, 36, 30};
  g.spacing_mm = Vector3d(1.0, 1.5, 2.0);
  g.origin_mm = Vector3d(-20.0, -27.0, -30.0);
  return g;
}

TEST(Resample, TrilinearReproducesALinearFieldThroughARigidTransform) {
  const Volume<float> src = sampled_linear(source_grid());
  Grid target;
  target.dims = {20, 20, 16};
  target.spacing_mm = Vector3d(0.9, 1.1, 1.7);
  target.origin_mm = Vector3d(-8.0, -9.0, -12.0);
  target.direction = RigidTransform::from_euler_deg({0, 0, 15}, Vector3d::Zero()).rotation();
  const auto xf = RigidTransform::from_euler_deg({4.0, -3.0, 8.0}, {1.5, -2.0, 0.7});
  const Volume<float> out = resample(src, target, Interpolation::kLinear, -999.0F, xf);
  int checked = 0;
  for (std::size_t n = 0; n < out.size(); ++n) {
    const Index3 ijk = target.index_of(n);
    const Vector3d p = target.index_to_world_mm(Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
    const Vector3d q = xf.apply(p);
    const Vector3d c = src.grid().world_mm_to_index(q);
    const bool inside = (c.array() >= 0.0).all() && (c.array() <= Eigen::Array3d(39, 35, 29)).all();
    if (!inside) continue;
    EXPECT_NEAR(out[n], linear_field(q), 1e-3) << "voxel " << n;
    ++checked;
  }
  EXPECT_GT(checked, 5000);
}

TEST(Resample, OutsideTheSourceGetsTheFillValue) {
  const Volume<float> src = sampled_linear(source_grid());
  Grid far = source_grid();
  far.origin_mm += Vector3d(500.0, 0.0, 0.0);
  const Volume<float> out = resample(src, far, Interpolation::kLinear, -1000.0F);
  for (const float v : out.data()) ASSERT_EQ(v, -1000.0F);
}

TEST(Resample, NearestOnTheSameGridIsTheIdentityAndWholeVoxelShiftsAreExact) {
  Grid g = source_grid();
  Volume<std::int16_t> src(g);
  for (std::size_t n = 0; n < src.size(); ++n) src[n] = static_cast<std::int16_t>(n % 3001 - 1000);
  const auto same = resample(src, g, Interpolation::kNearest, std::int16_t{0});
  EXPECT_EQ(same.data(), src.data());
  // Moving the target 3 voxels along x equals reading the source 3 voxels further.
  const auto shifted = resample(src, g, Interpolation::kLinear, std::int16_t{-5},
                                RigidTransform(Eigen::Matrix3d::Identity(), {3.0, 0.0, 0.0}));
  EXPECT_EQ(shifted.at(10, 5, 5), src.at(13, 5, 5));
  EXPECT_EQ(shifted.at(37, 5, 5), -5);  // beyond the edge
}

TEST(Resample, DownsamplingAConstantKeepsItAndIntegerOutputRounds) {
  Grid g = source_grid();
  Volume<std::int16_t> src(g, 100);
  Grid coarse = g;
  coarse.dims = {10, 9, 8};
  coarse.spacing_mm *= 4.0;
  const auto out = resample(src, coarse, Interpolation::kLinear, std::int16_t{0});
  EXPECT_EQ(out.at(2, 2, 2), 100);
  Volume<float> half(g, 0.5F);
  const auto rounded = resample(half.map<std::int16_t>([](float v) { return v > 0 ? 1 : 0; }), g,
                                Interpolation::kLinear, std::int16_t{0});
  EXPECT_EQ(rounded.at(1, 1, 1), 1);
}

}  // namespace
}  // namespace linac

namespace linac {
namespace {

TEST(Resample, CubicPassesThroughTheVoxelsAndReproducesAQuadraticField) {
  Grid g;
  g.dims = {8, 7, 6};
  g.spacing_mm = Eigen::Vector3d(2.0, 2.0, 2.0);
  Volume<float> v(g, 0.0F);
  auto field = [](double i, double j, double k) {
    return 3.0 + 0.5 * i - 0.25 * j + 0.1 * k + 0.05 * i * i - 0.02 * j * k;
  };
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        v.at(i, j, k) = static_cast<float>(
            field(static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
      }
    }
  }
  // At a voxel centre: its value.
  EXPECT_NEAR(sample_cubic(v, Eigen::Vector3d(3, 2, 4)), field(3, 2, 4), 1e-5);
  // Between voxels, away from the edges (the stencil inside the grid): the quadratic itself,
  // which trilinear interpolation misses by the curvature.
  for (const Eigen::Vector3d& c : {Eigen::Vector3d(3.3, 2.7, 2.5), Eigen::Vector3d(2.5, 3.5, 2.25),
                                   Eigen::Vector3d(4.9, 2.1, 2.8)}) {
    const double want = field(c.x(), c.y(), c.z());
    EXPECT_NEAR(sample_cubic(v, c), want, 1e-4) << c.transpose();
    EXPECT_GT(std::abs(sample(v, c, Interpolation::kLinear, 0.0) - want), 1e-3) << c.transpose();
  }
  // Beyond the grid: clamped to its edge.
  EXPECT_NEAR(sample_cubic(v, Eigen::Vector3d(-3, 0, 0)), field(0, 0, 0), 1e-5);
}

}  // namespace
}  // namespace linac
