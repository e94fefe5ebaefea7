#pragma once
// Rigid transforms (rotation + translation in mm) in any right-handed frame, on Eigen.
#include <Eigen/Geometry>
#include <array>

namespace linac {

class RigidTransform {
 public:
  RigidTransform() : iso_(Eigen::Isometry3d::Identity()) {}
  explicit RigidTransform(const Eigen::Isometry3d& iso) : iso_(iso) {}
  RigidTransform(const Eigen::Matrix3d& rotation, const Eigen::Vector3d& translation_mm);

  /// x' = Rz(rz) * Ry(ry) * Rx(rx) * x + t: rotations (degrees) about the frame's fixed x, y, z
  /// axes applied in that order (x first), right-handed (counter-clockwise looking down the axis).
  static RigidTransform from_euler_deg(const Eigen::Vector3d& rotation_deg,
                                       const Eigen::Vector3d& translation_mm);
  /// The same rotation about a centre point c: x' = R (x - c) + c + t.
  static RigidTransform from_euler_deg_about(const Eigen::Vector3d& rotation_deg,
                                             const Eigen::Vector3d& translation_mm,
                                             const Eigen::Vector3d& centre_mm);

  [[nodiscard]] Eigen::Vector3d apply(const Eigen::Vector3d& p_mm) const { return iso_ * p_mm; }
  [[nodiscard]] Eigen::Vector3d apply_vector(const Eigen::Vector3d& v) const {
    return iso_.linear() * v;
  }
  [[nodiscard]] RigidTransform inverse() const { return RigidTransform(iso_.inverse()); }
  /// (a * b)(x) = a(b(x)).
  friend RigidTransform operator*(const RigidTransform& a, const RigidTransform& b) {
    return RigidTransform(a.iso_ * b.iso_);
  }

  [[nodiscard]] Eigen::Matrix3d rotation() const { return iso_.linear(); }
  [[nodiscard]] Eigen::Vector3d translation_mm() const { return iso_.translation(); }
  /// Euler angles (degrees) in the convention of from_euler_deg; ry in [-90, 90].
  [[nodiscard]] Eigen::Vector3d euler_deg() const;
  [[nodiscard]] const Eigen::Isometry3d& isometry() const { return iso_; }
  /// Largest element-wise difference of the 3x4 matrices (rotation unitless, translation mm).
  [[nodiscard]] double max_difference(const RigidTransform& other) const;

 private:
  Eigen::Isometry3d iso_;
};

}  // namespace linac
