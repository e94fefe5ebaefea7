#include "linac/core/transform.hpp"

#include <cmath>

#include "linac/core/units.hpp"

namespace linac {

RigidTransform::RigidTransform(const Eigen::Matrix3d& rotation,
                               const Eigen::Vector3d& translation_mm) {
  iso_ = Eigen::Isometry3d::Identity();
  iso_.linear() = rotation;
  iso_.translation() = translation_mm;
}

RigidTransform RigidTransform::from_euler_deg(const Eigen::Vector3d& rotation_deg,
                                              const Eigen::Vector3d& translation_mm) {
  const Eigen::Matrix3d r =
      (Eigen::AngleAxisd(units::deg_to_rad(rotation_deg.z()), Eigen::Vector3d::UnitZ()) *
       Eigen::AngleAxisd(units::deg_to_rad(rotation_deg.y()), Eigen::Vector3d::UnitY()) *
       Eigen::AngleAxisd(units::deg_to_rad(rotation_deg.x()), Eigen::Vector3d::UnitX()))
          .toRotationMatrix();
  return {r, translation_mm};
}

RigidTransform RigidTransform::from_euler_deg_about(const Eigen::Vector3d& rotation_deg,
                                                    const Eigen::Vector3d& translation_mm,
                                                    const Eigen::Vector3d& centre_mm) {
  const RigidTransform rot = from_euler_deg(rotation_deg, Eigen::Vector3d::Zero());
  return {rot.rotation(), centre_mm - rot.rotation() * centre_mm + translation_mm};
}

Eigen::Vector3d RigidTransform::euler_deg() const {
  const Eigen::Matrix3d r = iso_.linear();
  // r = Rz(c) Ry(b) Rx(a): r(2,0) = -sin b.
  const double sb = std::clamp(-r(2, 0), -1.0, 1.0);
  const double b = std::asin(sb);
  double a = 0.0;
  double c = 0.0;
  if (std::abs(sb) < 1.0 - 1e-12) {
    a = std::atan2(r(2, 1), r(2, 2));
    c = std::atan2(r(1, 0), r(0, 0));
  } else {  // gimbal lock: put everything in c
    c = std::atan2(-r(0, 1), r(1, 1));
  }
  return {units::rad_to_deg(a), units::rad_to_deg(b), units::rad_to_deg(c)};
}

double RigidTransform::max_difference(const RigidTransform& other) const {
  return (iso_.matrix().topRows<3>() - other.iso_.matrix().topRows<3>()).cwiseAbs().maxCoeff();
}

}  // namespace linac
