#pragma once
// A regular 3-D image grid in DICOM patient coordinates (mm): dims, spacing, origin (centre of
// voxel 0,0,0) and direction cosines (columns are the directions of the i, j, k axes).
#include <Eigen/Core>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace linac {

using Index3 = std::array<std::int64_t, 3>;

struct Grid {
  Index3 dims{0, 0, 0};
  Eigen::Vector3d spacing_mm{1.0, 1.0, 1.0};
  Eigen::Vector3d origin_mm{0.0, 0.0, 0.0};
  Eigen::Matrix3d direction = Eigen::Matrix3d::Identity();

  /// Checks dims > 0, finite positive spacing, finite origin, orthonormal direction.
  /// Throws InputError naming `where` otherwise.
  void validate(const std::string& where) const;

  [[nodiscard]] std::size_t voxel_count() const {
    return static_cast<std::size_t>(dims[0]) * static_cast<std::size_t>(dims[1]) *
           static_cast<std::size_t>(dims[2]);
  }
  [[nodiscard]] double voxel_volume_mm3() const {
    return spacing_mm.x() * spacing_mm.y() * spacing_mm.z();
  }
  [[nodiscard]] bool contains(std::int64_t i, std::int64_t j, std::int64_t k) const {
    return i >= 0 && j >= 0 && k >= 0 && i < dims[0] && j < dims[1] && k < dims[2];
  }
  [[nodiscard]] std::size_t linear_index(std::int64_t i, std::int64_t j, std::int64_t k) const {
    return static_cast<std::size_t>(i + dims[0] * (j + dims[1] * k));
  }
  [[nodiscard]] Index3 index_of(std::size_t linear) const {
    const auto n = static_cast<std::int64_t>(linear);
    return {n % dims[0], (n / dims[0]) % dims[1], n / (dims[0] * dims[1])};
  }

  /// Continuous index (i, j, k) -> patient coordinates in mm.
  [[nodiscard]] Eigen::Vector3d index_to_world_mm(const Eigen::Vector3d& ijk) const {
    return origin_mm + direction * spacing_mm.cwiseProduct(ijk);
  }
  /// Patient coordinates in mm -> continuous index. Direction must be orthonormal.
  [[nodiscard]] Eigen::Vector3d world_mm_to_index(const Eigen::Vector3d& p_mm) const {
    return (direction.transpose() * (p_mm - origin_mm)).cwiseQuotient(spacing_mm);
  }

  /// Same dims, and spacing, origin and direction within `tol_mm`.
  [[nodiscard]] bool same_as(const Grid& other, double tol_mm = 1e-4) const;

  /// Physical extent covered by the voxel centres: (dims - 1) * spacing.
  [[nodiscard]] Eigen::Vector3d extent_mm() const;
};

}  // namespace linac
