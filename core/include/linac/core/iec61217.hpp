#pragma once
// IEC 61217 coordinate systems and DICOM patient coordinates.
//
// Fixed (f): origin at isocentre, +X to the gantry's right seen from the foot of the couch,
// +Y towards the gantry, +Z up. Gantry (g): rotated about Y_f by the gantry angle. Beam-limiting
// device (b): rotated about Z_g by the collimator angle; the source sits at +Z_b (SAD). Patient
// support (s): rotated about Z_f by the couch (patient support) angle. Table top (t): translated
// by the couch position. Every rotation is right-handed (positive = counter-clockwise looking
// from the positive end of the axis towards the origin), as IEC 61217 specifies.
// DICOM patient coordinates (LPS for a supine head-first patient) map to the table top frame
// through the patient position (HFS, HFP, FFS, FFP).
#include <string>

#include "linac/core/transform.hpp"

namespace linac::iec {

enum class PatientPosition { kHFS, kHFP, kFFS, kFFP };

/// "HFS" etc. Throws InputError for anything else.
PatientPosition parse_patient_position(const std::string& code);
std::string to_string(PatientPosition position);

/// Each transform maps coordinates in the named child frame to its parent frame (mm).
RigidTransform gantry_to_fixed(double gantry_deg);
RigidTransform collimator_to_gantry(double collimator_deg);
RigidTransform patient_support_to_fixed(double couch_rotation_deg);
/// Table-top frame to patient-support frame: couch lateral/longitudinal/vertical offsets (mm)
/// from the couch's isocentric reference, then pitch (about X) and roll (about Y), in degrees.
RigidTransform table_top_to_patient_support(const Eigen::Vector3d& couch_translation_mm,
                                            double pitch_deg = 0.0, double roll_deg = 0.0);
/// DICOM patient coordinates (mm, origin at the treatment isocentre) to the table-top frame.
RigidTransform patient_to_table_top(PatientPosition position);

/// Composite: DICOM patient frame to the fixed room frame for a couch state.
struct CouchState {
  Eigen::Vector3d translation_mm{0.0, 0.0, 0.0};  // lateral (X), longitudinal (Y), vertical (Z)
  double rotation_deg = 0.0;
  double pitch_deg = 0.0;
  double roll_deg = 0.0;
};
RigidTransform patient_to_fixed(PatientPosition position, const CouchState& couch);

/// Radiation source position in the fixed frame for a gantry angle (source-axis distance mm).
Eigen::Vector3d source_position_fixed_mm(double gantry_deg, double sad_mm);

/// Gantry angle normalised to [0, 360).
double normalize_angle_deg(double angle_deg);

}  // namespace linac::iec
