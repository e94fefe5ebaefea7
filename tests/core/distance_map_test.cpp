// Euclidean distance maps against brute force on small anisotropic grids.
#include "linac/core/distance_map.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numbers>

#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"

namespace linac {
namespace {

using Eigen::Vector3d;

Grid small_grid() {
  Grid g;
  g.dims = {13, 11, 9};
  g.spacing_mm = Vector3d(0.7, 1.3, 2.9);
  return g;
}

std::vector<float> brute_force(const Mask& m, bool to_foreground) {
  const Grid& g = m.grid();
  std::vector<float> out(m.size(), std::numeric_limits<float>::infinity());
  for (std::size_t a = 0; a < m.size(); ++a) {
    const Index3 pa = g.index_of(a);
    double best = std::numeric_limits<double>::infinity();
    for (std::size_t b = 0; b < m.size(); ++b) {
      if ((m[b] != 0) != to_foreground) continue;
      const Index3 pb = g.index_of(b);
      double d2 = 0.0;
      for (int k = 0; k < 3; ++k) {
        const double d = static_cast<double>(pa[k] - pb[k]) * g.spacing_mm[k];
        d2 += d * d;
      }
      best = std::min(best, d2);
    }
    out[a] = static_cast<float>(std::sqrt(best));
  }
  return out;
}

class DistanceMapRandom : public ::testing::TestWithParam<int> {};

TEST_P(DistanceMapRandom, MatchesBruteForce) {
  Rng rng(static_cast<std::uint64_t>(GetParam()));
  Mask m(small_grid());
  const double density = 0.01 + 0.1 * rng.uniform();
  for (auto& v : m.data()) v = rng.uniform() < density ? 1 : 0;
  m[m.size() / 2] = 1;
  const auto fast = distance_map_mm(m);
  const auto slow = brute_force(m, true);
  for (std::size_t n = 0; n < m.size(); ++n) ASSERT_NEAR(fast[n], slow[n], 1e-4) << n;

  const auto signed_map = signed_distance_map_mm(m);
  const auto slow_in = brute_force(m, false);
  for (std::size_t n = 0; n < m.size(); ++n) {
    const float expected = m[n] != 0 ? -slow_in[n] : slow[n];
    ASSERT_NEAR(signed_map[n], expected, 1e-4) << n;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, DistanceMapRandom, ::testing::Range(1, 9));

TEST(DistanceMap, EmptyMaskIsInfinitelyFar) {
  const auto d = distance_map_mm(Mask(small_grid(), 0));
  EXPECT_TRUE(std::isinf(d[0]));
}

TEST(DistanceMap, ExpansionOfAPointIsAnEllipsoidInVoxelsAndASphereInMillimetres) {
  Grid g;
  g.dims = {61, 61, 25};
  g.spacing_mm = Vector3d(1.0, 1.0, 2.5);
  Mask m(g, 0);
  m.at(30, 30, 12) = 1;
  const Mask grown = expand_mm(m, 10.0);
  // Along z the margin reaches 4 slices (10 mm), along x 10 voxels.
  EXPECT_EQ(grown.at(30, 30, 16), 1);
  EXPECT_EQ(grown.at(30, 30, 17), 0);
  EXPECT_EQ(grown.at(40, 30, 12), 1);
  EXPECT_EQ(grown.at(41, 30, 12), 0);
  const double sphere_cm3 = 4.0 / 3.0 * std::numbers::pi * 1000.0 / 1000.0;
  EXPECT_NEAR(volume_cm3(grown), sphere_cm3, 0.05 * sphere_cm3);
}

}  // namespace
}  // namespace linac
