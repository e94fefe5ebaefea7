#pragma once
// The plan model: beams of control points (gantry, cumulative meterset, MLC, jaws).
// Angles follow IEC 61217 (degrees in [0, 360)); MLC and jaw positions are coordinates in mm at
// isocentre along the beam-limiting device's X (leaves, X jaws) and Y (Y jaws) axes, so an open
// field has jaw_x1_mm < 0 < jaw_x2_mm, as in DICOM.
#include <optional>
#include <string>
#include <vector>

namespace linac {

enum class RotationDirection { kNone, kClockwise, kCounterClockwise };
enum class BeamType { kStatic, kDynamic, kArc };

std::string to_string(RotationDirection d);
std::string to_string(BeamType t);

/// Leaf pairs of a Millennium 120 MLC; the machine profile is the authority for a machine.
inline constexpr int kMillennium120LeafPairs = 60;

struct ControlPoint {
  double gantry_deg = 0.0;
  RotationDirection gantry_direction = RotationDirection::kNone;
  double collimator_deg = 0.0;
  double cumulative_meterset_weight = 0.0;
  std::vector<double> leaf_a_mm;  // bank A (X2 side), one per leaf pair
  std::vector<double> leaf_b_mm;  // bank B (X1 side)
  double jaw_x1_mm = 0.0;
  double jaw_x2_mm = 0.0;
  double jaw_y1_mm = 0.0;
  double jaw_y2_mm = 0.0;
  std::optional<double> dose_rate_mu_per_min;
};

struct Beam {
  unsigned number = 0;
  std::string name;
  BeamType type = BeamType::kArc;
  std::string radiation_type = "PHOTON";
  double nominal_energy_mv = 6.0;
  double meterset_mu = 0.0;
  std::string treatment_machine_name;
  std::vector<ControlPoint> control_points;
  std::vector<double> leaf_boundaries_mm;  // as planned; empty when not given
};

struct Prescription {
  std::string target;
  double dose_gy = 0.0;
  unsigned fractions = 1;
};

struct Plan {
  std::string label;
  std::string patient_id;
  std::string treatment_machine_name;
  Prescription prescription;
  std::vector<Beam> beams;

  [[nodiscard]] double total_mu() const;
};

}  // namespace linac
