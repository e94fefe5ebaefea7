// Projection files as the kV imager's projections: the same image written flipped or transposed
// (with its matrix to match) gives the same imager pixels and geometry.
#include "linac/igrt/projection_geometry.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace linac::igrt {
namespace {

// plastimatch drr's projection at 0 degrees (SAD 1000, SID 1500, 192 x 256 pixels of 1.55 mm):
// columns along the IEC rotation, rows reversed along the gantry axis; pixel values that say
// where they came from.
MatrixProjection drr_at_zero() {
  MatrixProjection p;
  p.source = "drr0000.pfm";
  p.image_centre_px = Eigen::Vector2d(95.5, 127.5);
  p.matrix << 0.0, 6.44295302e-01, 0.0, 0.0,  //
      0.0, 0.0, -6.44836272e-01, 0.0,         //
      -6.66666667e-04, 0.0, 0.0, 6.66666667e-01;
  p.source_axis_distance_mm = 1000.0;
  p.source_imager_distance_mm = 1500.0;
  p.columns = 192;
  p.rows = 256;
  for (int r = 0; r < p.rows; ++r) {
    for (int c = 0; c < p.columns; ++c) p.values.push_back(static_cast<float>(c + 1000 * r));
  }
  return p;
}

MatrixProjection columns_reversed(MatrixProjection p) {
  p.matrix.row(0) *= -1.0;
  p.image_centre_px[0] = p.columns - 1 - p.image_centre_px[0];
  for (int r = 0; r < p.rows; ++r) {
    std::reverse(p.values.begin() + r * p.columns, p.values.begin() + (r + 1) * p.columns);
  }
  return p;
}

MatrixProjection transposed(MatrixProjection p) {
  MatrixProjection t = p;
  t.matrix.row(0) = p.matrix.row(1);
  t.matrix.row(1) = p.matrix.row(0);
  t.image_centre_px = Eigen::Vector2d(p.image_centre_px[1], p.image_centre_px[0]);
  t.columns = p.rows;
  t.rows = p.columns;
  for (int r = 0; r < t.rows; ++r) {
    for (int c = 0; c < t.columns; ++c) {
      t.values[static_cast<std::size_t>(r * t.columns + c)] =
          p.values[static_cast<std::size_t>(c * p.columns + r)];
    }
  }
  return t;
}

TEST(ProjectionGeometry, AFlippedOrTransposedFileGivesTheSameImagerPixels) {
  const auto base = circular_projections({drr_at_zero()}, iec::PatientPosition::kHFS);
  ASSERT_EQ(base.size(), 1U);
  const hal::KvProjection& b = base.front();
  EXPECT_EQ(b.columns, 192);
  EXPECT_EQ(b.rows, 256);
  EXPECT_NEAR(b.source_axis_distance_mm, 1000.0, 1e-9);
  // Rows run the other way in the file: the imager's first row is the file's last.
  EXPECT_EQ(b.line_integral[0], static_cast<float>(1000 * 255));
  for (const auto& variant : {columns_reversed(drr_at_zero()), transposed(drr_at_zero()),
                              transposed(columns_reversed(drr_at_zero()))}) {
    std::vector<MatrixProjection> set{variant};
    const auto k = circular_projections(std::move(set), iec::PatientPosition::kHFS);
    ASSERT_EQ(k.size(), 1U);
    EXPECT_EQ(k[0].columns, b.columns);
    EXPECT_EQ(k[0].rows, b.rows);
    EXPECT_NEAR(k[0].kv_source_angle_deg, b.kv_source_angle_deg, 1e-9);
    EXPECT_NEAR(k[0].pixel_pitch_mm, b.pixel_pitch_mm, 1e-9);
    EXPECT_NEAR(k[0].detector_offset_mm, b.detector_offset_mm, 1e-9);
    EXPECT_EQ(k[0].line_integral, b.line_integral);
  }
}

}  // namespace
}  // namespace linac::igrt
