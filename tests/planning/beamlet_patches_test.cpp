// The optimiser's beamlet matrices in rectangles of 16-bit values (beamlet_patches.hpp): its
// products against the same matrix held dense, and the bad rectangles it refuses.
#include "linac/planning/beamlet_patches.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "linac/core/random.hpp"

namespace linac::planning {
namespace {

TEST(BeamletPatches, ProductsMatchTheDenseMatrixWithinTheSixteenBitSteps) {
  // 7 rows x 9 columns of beamlets, 50 points; every third point sees nothing, the others a
  // rectangle of random size and place with values over four decades (a kernel's tail).
  const int rows = 7;
  const int columns = 9;
  const Eigen::Index points = 50;
  Rng rng(3);
  Eigen::MatrixXd dense = Eigen::MatrixXd::Zero(points, rows * columns);
  BeamletPatches patches(points, rows, columns);
  for (Eigen::Index p = 0; p < points; ++p) {
    if (p % 3 == 2) continue;
    const int nr = 1 + static_cast<int>(rng.uniform() * 4.0);
    const int nc = 1 + static_cast<int>(rng.uniform() * 5.0);
    const int r0 = static_cast<int>(rng.uniform() * (rows - nr + 1));
    const int c0 = static_cast<int>(rng.uniform() * (columns - nc + 1));
    std::vector<double> v;
    for (int r = 0; r < nr; ++r) {
      for (int c = 0; c < nc; ++c) {
        const double value = 2e-3 * std::pow(10.0, -4.0 * rng.uniform());
        v.push_back(value);
        dense(p, (r0 + r) * columns + c0 + c) = value;
      }
    }
    patches.append(p, r0, c0, nr, nc, v.data());
  }
  EXPECT_EQ(patches.rows(), points);
  EXPECT_EQ(patches.cols(), rows * columns);
  EXPECT_GT(patches.nonZeros(), 100U);
  EXPECT_LT(patches.bytes(), patches.nonZeros() * 8);  // a general sparse matrix's 8 bytes
  Eigen::VectorXf f(rows * columns);
  for (Eigen::Index b = 0; b < f.size(); ++b) f[b] = static_cast<float>(rng.uniform() * 3.0);
  Eigen::VectorXf g(points);
  for (Eigen::Index p = 0; p < points; ++p) g[p] = static_cast<float>(rng.uniform() - 0.3);
  const Eigen::VectorXd want_d = dense * f.cast<double>();
  const Eigen::VectorXd want_h = dense.transpose() * g.cast<double>();
  const Eigen::VectorXf d = patches * f;
  const Eigen::VectorXf h = patches.transpose_times(g);
  // A step is 1/65535 of a rectangle's largest value: relative errors below 1e-4.
  for (Eigen::Index p = 0; p < points; ++p) {
    EXPECT_NEAR(static_cast<double>(d[p]), want_d[p], 1e-4 * want_d.cwiseAbs().maxCoeff()) << p;
    if (p % 3 == 2) {
      EXPECT_EQ(d[p], 0.0F);
    }
  }
  for (Eigen::Index b = 0; b < h.size(); ++b) {
    EXPECT_NEAR(static_cast<double>(h[b]), want_h[b], 1e-4 * want_h.cwiseAbs().maxCoeff()) << b;
  }
  // add_product accumulates.
  std::vector<double> out(static_cast<std::size_t>(points), 1.0);
  patches.add_product(f.data(), out.data());
  EXPECT_NEAR(out[0], 1.0 + want_d[0], 1e-4 * want_d.cwiseAbs().maxCoeff());
}

TEST(BeamletPatches, RefusesRectanglesOutsideTheLayoutAndPointsOutOfOrder) {
  BeamletPatches patches(10, 4, 5);
  const std::vector<double> v(20, 1e-3);
  EXPECT_THROW(patches.append(0, 3, 0, 2, 1, v.data()), std::invalid_argument);   // rows 3-4
  EXPECT_THROW(patches.append(0, 0, 4, 1, 2, v.data()), std::invalid_argument);   // columns 4-5
  EXPECT_THROW(patches.append(10, 0, 0, 1, 1, v.data()), std::invalid_argument);  // no point 10
  patches.append(5, 0, 0, 2, 2, v.data());
  EXPECT_THROW(patches.append(5, 0, 0, 1, 1, v.data()), std::invalid_argument);  // twice
  EXPECT_THROW(patches.append(4, 0, 0, 1, 1, v.data()), std::invalid_argument);  // backwards
  EXPECT_THROW(BeamletPatches(10, 300, 5), std::invalid_argument);               // 300 rows
  EXPECT_EQ(patches.nonZeros(), 4U);
  EXPECT_THROW(static_cast<void>(patches * Eigen::VectorXf::Ones(7)), std::invalid_argument);
}

}  // namespace
}  // namespace linac::planning
