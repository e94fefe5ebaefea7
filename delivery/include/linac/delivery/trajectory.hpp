#pragma once
// Trajectory sequencing (MACHINE.md, VMAT delivery logic): each segment between control points
// lasts the longest of MU / max dose rate, |delta gantry| / max gantry speed and
// max |delta leaf| / max leaf speed, then longer where the dose rate would fall or the gantry's
// speed change between neighbours faster than the machine follows; gantry speed and dose rate
// follow from that time.
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"

namespace linac::delivery {

/// kRamp: lengthened so that the dose rate and the gantry's speed change between segments no
/// faster than the machine follows (trajectory.cpp).
enum class SegmentLimit { kDoseRate, kGantrySpeed, kLeafSpeed, kRamp, kNone };

struct Segment {
  int from_control_point = 0;
  double duration_s = 0.0;
  double mu = 0.0;
  double gantry_delta_deg = 0.0;  // signed, in the direction of rotation
  double max_leaf_travel_mm = 0.0;
  double dose_rate_mu_per_min = 0.0;
  double gantry_speed_deg_per_s = 0.0;
  double max_leaf_speed_mm_per_s = 0.0;
  SegmentLimit limited_by = SegmentLimit::kNone;
};

struct TrajectoryPoint {
  double time_s = 0.0;
  double gantry_deg = 0.0;  // IEC 61217, [0, 360)
  double cumulative_mu = 0.0;
  int control_point = 0;
};

struct BeamTrajectory {
  std::vector<Segment> segments;
  std::vector<TrajectoryPoint> points;  // one per control point
  double beam_on_s = 0.0;
};

/// Signed gantry travel from `from_deg` to `to_deg` for the rotation direction (CW increases
/// the IEC angle); for kNone, the shorter way.
double gantry_travel_deg(double from_deg, double to_deg, RotationDirection direction);

/// Sequences one beam. `fixed_dose_rate_mu_per_min` (from the plan, for static and dynamic
/// beams) caps the dose rate when given.
BeamTrajectory sequence_beam(const Beam& beam, const MachineProfile& profile);

}  // namespace linac::delivery
