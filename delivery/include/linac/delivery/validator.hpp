#pragma once
// Plan validation against the machine profile: every violation with its beam, control point,
// axis (leaf, jaw, gantry, ...), value and limit. Nothing delivers that was not validated.
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"
#include "linac/delivery/mlc_controller.hpp"

namespace linac::delivery {

struct Violation {
  std::string beam;
  int control_point = -1;  // -1: the beam as a whole
  std::string axis;        // "leaf A12", "jaw X1", "gantry", "mu_per_deg", "energy", ...
  double value = 0.0;
  double limit = 0.0;
  std::string message;
};

struct BeamSummary {
  std::string name;
  int control_points = 0;
  double mu = 0.0;
  double predicted_beam_on_s = 0.0;
};

struct ValidationReport {
  bool deliverable = false;
  std::string plan_checksum;  // SHA-256 of exactly what was validated (re-checked at beam on)
  std::vector<BeamSummary> beams;
  std::vector<Violation> violations;
  /// Deliverable, but the machine is predicted to hold the beam there (a leaf lagging its
  /// set-point beyond the tolerance while it changes speed); the delivery pauses and resumes.
  std::vector<Violation> warnings;
  /// What the MLC controller changes before delivery (closed leaf pairs opened to the minimum
  /// gap under a jaw, mlc_controller.hpp); the checks above are of the plan so adjusted.
  std::vector<Adjustment> adjustments;

  /// {"deliverable":..,"plan_checksum":..,"beams":[{"name","control_points","mu","predicted_beam_on_s"}],
  ///  "violations":[{"beam","control_point","axis","value","limit","message"}],
  ///  "warnings":[same shape as violations],
  ///  "adjustments":[{"beam","leaf_pair","control_points","first_control_point",
  ///                  "smallest_planned_gap_mm","shielded_by","message"}]}
  [[nodiscard]] std::string to_json() const;
};

ValidationReport validate_plan(const Plan& plan, const MachineProfile& profile);

}  // namespace linac::delivery
