// Masks: volumes, bounding boxes, centroids, boolean operations.
#include "linac/core/mask.hpp"

#include <gtest/gtest.h>

#include <numbers>

namespace linac {
namespace {

using Eigen::Vector3d;

Mask sphere(const Grid& g, const Vector3d& c, double r) {
  Mask m(g);
  for (std::size_t n = 0; n < m.size(); ++n) {
    const Index3 ijk = g.index_of(n);
    const Vector3d p = g.index_to_world_mm(Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
    m[n] = (p - c).norm() <= r ? 1 : 0;
  }
  return m;
}

Grid grid() {
  Grid g;
  g.dims = {80, 80, 60};
  g.spacing_mm = Vector3d(1.0, 1.0, 1.5);
  g.origin_mm = Vector3d(-40.0, -40.0, -45.0);
  return g;
}

TEST(Mask, SphereVolumeInCubicCentimetres) {
  const Mask m = sphere(grid(), {0, 0, 0}, 25.0);
  const double exact_cm3 = 4.0 / 3.0 * std::numbers::pi * 25.0 * 25.0 * 25.0 / 1000.0;
  EXPECT_NEAR(volume_cm3(m), exact_cm3, 0.01 * exact_cm3);
  EXPECT_EQ(static_cast<double>(count_voxels(m)) * 1.5 / 1000.0, volume_cm3(m));
}

TEST(Mask, BoundingBoxAndCentroid) {
  const Grid g = grid();
  const Mask m = sphere(g, {5.0, -10.0, 3.0}, 8.0);
  const auto box = bounding_box(m);
  ASSERT_TRUE(box.has_value());
  EXPECT_EQ(box->min[0], 37);  // x from -3 mm
  EXPECT_EQ(box->max[0], 53);  // to 13 mm
  EXPECT_EQ(box->min[1], 22);
  EXPECT_EQ(box->max[1], 38);
  EXPECT_LT((centroid_mm(m) - Vector3d(5.0, -10.0, 3.0)).norm(), 0.1);
  EXPECT_FALSE(bounding_box(Mask(g, 0)).has_value());
}

TEST(Mask, BooleanOperations) {
  const Grid g = grid();
  const Mask a = sphere(g, {-8, 0, 0}, 15.0);
  const Mask b = sphere(g, {8, 0, 0}, 15.0);
  const auto u = count_voxels(mask_union(a, b));
  const auto i = count_voxels(mask_intersection(a, b));
  const auto d = count_voxels(mask_difference(a, b));
  EXPECT_EQ(u + i, count_voxels(a) + count_voxels(b));
  EXPECT_EQ(d + i, count_voxels(a));
  EXPECT_GT(i, 0u);
  Grid other = g;
  other.dims[0] = 81;
  EXPECT_THROW((void)mask_union(a, Mask(other)), std::invalid_argument);
}

}  // namespace
}  // namespace linac

namespace linac {
namespace {

TEST(MaskComponents, ConnectedComponentsAndAxialContoursInMillimetres) {
  Grid g;
  g.dims = {20, 16, 6};
  g.spacing_mm = Eigen::Vector3d(2.0, 1.5, 3.0);
  g.origin_mm = Eigen::Vector3d(-10.0, 5.0, 0.0);
  Mask m(g, 0);
  // A 5 x 4 x 2 block and, apart from it, a single voxel touching nothing.
  for (std::int64_t k = 1; k <= 2; ++k) {
    for (std::int64_t j = 2; j <= 5; ++j) {
      for (std::int64_t i = 3; i <= 7; ++i) m.at(i, j, k) = 1;
    }
  }
  m.at(15, 12, 4) = 1;
  const auto comps = connected_components(m);
  ASSERT_EQ(comps.size(), 2u);
  EXPECT_EQ(comps[0].voxels, 40u);
  EXPECT_NEAR(comps[0].volume_cm3, 40 * 2.0 * 1.5 * 3.0 / 1000.0, 1e-12);
  EXPECT_NEAR(comps[0].centroid_mm.x(), -10.0 + 5 * 2.0, 1e-9);
  EXPECT_EQ(comps[1].voxels, 1u);
  // Diagonal neighbours join (26-connectivity).
  m.at(8, 6, 3) = 1;
  EXPECT_EQ(connected_components(m).size(), 2u);
  // The block's outline in slice 1: one polygon spanning its voxel centres in mm.
  const auto contours = axial_contours_mm(m, 1);
  ASSERT_EQ(contours.size(), 1u);
  double xmin = 1e9, xmax = -1e9, ymin = 1e9, ymax = -1e9;
  for (const auto& p : contours[0]) {
    xmin = std::min(xmin, p.x());
    xmax = std::max(xmax, p.x());
    ymin = std::min(ymin, p.y());
    ymax = std::max(ymax, p.y());
    EXPECT_DOUBLE_EQ(p.z(), 3.0);
  }
  EXPECT_DOUBLE_EQ(xmin, -10.0 + 3 * 2.0);
  EXPECT_DOUBLE_EQ(xmax, -10.0 + 7 * 2.0);
  EXPECT_DOUBLE_EQ(ymin, 5.0 + 2 * 1.5);
  EXPECT_DOUBLE_EQ(ymax, 5.0 + 5 * 1.5);
  EXPECT_TRUE(axial_contours_mm(m, 0).empty());
}

}  // namespace
}  // namespace linac
