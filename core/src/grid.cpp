#include "linac/core/grid.hpp"

#include <cmath>
#include <sstream>

#include "linac/core/error.hpp"

namespace linac {

void Grid::validate(const std::string& where) const {
  static const char* const kAxis[] = {"x", "y", "z"};
  for (int a = 0; a < 3; ++a) {
    if (dims[a] <= 0) {
      throw InputError(where, std::string("dimension ") + kAxis[a] + " is " +
                                  std::to_string(dims[a]) + ", must be positive");
    }
    if (!std::isfinite(spacing_mm[a]) || spacing_mm[a] <= 0.0) {
      std::ostringstream os;
      os << "spacing " << kAxis[a] << " is " << spacing_mm[a] << " mm, must be positive";
      throw InputError(where, os.str());
    }
    if (!std::isfinite(origin_mm[a])) {
      throw InputError(where, std::string("origin ") + kAxis[a] + " is not finite");
    }
  }
  if (!direction.allFinite() ||
      (direction.transpose() * direction - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff() >
          1e-4) {
    throw InputError(where, "direction cosines are not orthonormal");
  }
  constexpr std::size_t kMaxVoxels = std::size_t{1} << 32;
  if (voxel_count() > kMaxVoxels) {
    throw InputError(where, "grid of " + std::to_string(voxel_count()) +
                                " voxels exceeds the limit of " + std::to_string(kMaxVoxels));
  }
}

bool Grid::same_as(const Grid& other, double tol_mm) const {
  return dims == other.dims && (spacing_mm - other.spacing_mm).cwiseAbs().maxCoeff() <= tol_mm &&
         (origin_mm - other.origin_mm).cwiseAbs().maxCoeff() <= tol_mm &&
         (direction - other.direction).cwiseAbs().maxCoeff() <= 1e-6;
}

Eigen::Vector3d Grid::extent_mm() const {
  return Eigen::Vector3d(static_cast<double>(dims[0] - 1), static_cast<double>(dims[1] - 1),
                         static_cast<double>(dims[2] - 1))
      .cwiseProduct(spacing_mm);
}

}  // namespace linac
