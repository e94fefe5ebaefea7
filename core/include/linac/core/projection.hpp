#pragma once
// A cone-beam projection image with the geometry that made it, as projection-matrix tools (the
// plastimatch drr/fdk file pair, RTK, calibrated imagers) state it: a 3 x 4 matrix P taking a
// point X (mm, the volume's patient coordinates) to the pixel
//   column = image_centre_px[0] + (P X)[0] / (P X)[2],  row = image_centre_px[1] + (P X)[1] / (P
//   X)[2]
// of an image stored row by row (`columns` values per row).
#include <Eigen/Core>
#include <string>
#include <vector>

namespace linac {

struct MatrixProjection {
  std::string source;  // the file it came from, for messages
  Eigen::Vector2d image_centre_px = Eigen::Vector2d::Zero();
  Eigen::Matrix<double, 3, 4> matrix = Eigen::Matrix<double, 3, 4>::Zero();
  double source_axis_distance_mm = 0.0;
  double source_imager_distance_mm = 0.0;
  int columns = 0;
  int rows = 0;
  std::vector<float> values;  // line integrals, row-major, `columns` x `rows`
};

}  // namespace linac
