#include "linac/core/iec61217.hpp"

#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/units.hpp"

namespace linac::iec {
namespace {
Eigen::Matrix3d rot(double deg, const Eigen::Vector3d& axis) {
  return Eigen::AngleAxisd(units::deg_to_rad(deg), axis).toRotationMatrix();
}
}  // namespace

PatientPosition parse_patient_position(const std::string& code) {
  if (code == "HFS") return PatientPosition::kHFS;
  if (code == "HFP") return PatientPosition::kHFP;
  if (code == "FFS") return PatientPosition::kFFS;
  if (code == "FFP") return PatientPosition::kFFP;
  throw InputError("patient_position", "'" + code + "' is not one of HFS, HFP, FFS, FFP");
}

std::string to_string(PatientPosition position) {
  switch (position) {
    case PatientPosition::kHFS:
      return "HFS";
    case PatientPosition::kHFP:
      return "HFP";
    case PatientPosition::kFFS:
      return "FFS";
    case PatientPosition::kFFP:
      return "FFP";
  }
  return "?";
}

RigidTransform gantry_to_fixed(double gantry_deg) {
  return {rot(gantry_deg, Eigen::Vector3d::UnitY()), Eigen::Vector3d::Zero()};
}

RigidTransform collimator_to_gantry(double collimator_deg) {
  return {rot(collimator_deg, Eigen::Vector3d::UnitZ()), Eigen::Vector3d::Zero()};
}

RigidTransform patient_support_to_fixed(double couch_rotation_deg) {
  return {rot(couch_rotation_deg, Eigen::Vector3d::UnitZ()), Eigen::Vector3d::Zero()};
}

RigidTransform table_top_to_patient_support(const Eigen::Vector3d& couch_translation_mm,
                                            double pitch_deg, double roll_deg) {
  const Eigen::Matrix3d r =
      rot(pitch_deg, Eigen::Vector3d::UnitX()) * rot(roll_deg, Eigen::Vector3d::UnitY());
  return {r, couch_translation_mm};
}

RigidTransform patient_to_table_top(PatientPosition position) {
  // Columns: where the patient's x (left), y (posterior), z (superior) axes point in the table
  // top frame (X right of the gantry seen from the foot, Y towards the gantry, Z up).
  Eigen::Matrix3d m;
  switch (position) {
    case PatientPosition::kHFS:
      m << 1, 0, 0, 0, 0, 1, 0, -1, 0;
      break;
    case PatientPosition::kHFP:
      m << -1, 0, 0, 0, 0, 1, 0, 1, 0;
      break;
    case PatientPosition::kFFS:
      m << -1, 0, 0, 0, 0, -1, 0, -1, 0;
      break;
    case PatientPosition::kFFP:
      m << 1, 0, 0, 0, 0, -1, 0, 1, 0;
      break;
  }
  return {m, Eigen::Vector3d::Zero()};
}

RigidTransform patient_to_fixed(PatientPosition position, const CouchState& couch) {
  return patient_support_to_fixed(couch.rotation_deg) *
         table_top_to_patient_support(couch.translation_mm, couch.pitch_deg, couch.roll_deg) *
         patient_to_table_top(position);
}

Eigen::Vector3d source_position_fixed_mm(double gantry_deg, double sad_mm) {
  return gantry_to_fixed(gantry_deg).apply(Eigen::Vector3d(0.0, 0.0, sad_mm));
}

double normalize_angle_deg(double angle_deg) {
  double a = std::fmod(angle_deg, 360.0);
  if (a < 0.0) a += 360.0;
  if (a >= 360.0) a -= 360.0;
  return a;
}

}  // namespace linac::iec
