#pragma once
// The planned state of the machine along a beam as a function of the delivered-MU fraction
// (MACHINE.md: the MLC follows the delivered MU; so do the gantry and the jaws). Gantry angles
// are unwrapped into the machine's continuous range (-185 .. 185 deg on a Clinac) along the
// planned rotation direction, so an arc through 180 deg is one continuous motion.
#include <vector>

#include "linac/core/plan.hpp"

namespace linac::delivery {

struct MachineSetpoint {
  double gantry_deg = 0.0;  // machine scale, continuous
  double collimator_deg = 0.0;
  double jaw_x1_mm = 0.0;
  double jaw_x2_mm = 0.0;
  double jaw_y1_mm = 0.0;
  double jaw_y2_mm = 0.0;
  std::vector<double> leaf_a_mm;
  std::vector<double> leaf_b_mm;
  int control_point = 0;  // the control point the segment starts at
};

class BeamPath {
 public:
  explicit BeamPath(const Beam& beam);
  /// The planned state at the cumulative meterset fraction f (clamped to [0, 1]). Within a
  /// segment of zero MU (leaves moving with the beam off) the state is that segment's end.
  [[nodiscard]] MachineSetpoint at_fraction(double f) const;
  [[nodiscard]] MachineSetpoint at_mu(double mu) const;
  /// The planned state as the delivered MU approach `mu` from below: where a transition starts
  /// at `mu`, the state before it (at_mu gives the state after it); elsewhere the same as at_mu.
  [[nodiscard]] MachineSetpoint approaching_mu(double mu) const;
  /// The delivered MU of the first transition after `mu` (more than 1e-6 MU after it), or the
  /// beam's MU when none follows. A transition is a segment of zero MU in which the leaves, jaws,
  /// gantry or collimator move: a step-and-shoot plan's moves between its static segments. The
  /// machine delivers it with the beam off (the MLC controller holds the beam until the leaves
  /// are at the next segment), so the beam must stop at this MU.
  [[nodiscard]] double next_transition_mu(double mu) const;
  /// Every transition's delivered MU, ascending (one entry for consecutive zero-MU segments).
  [[nodiscard]] const std::vector<double>& transitions_mu() const { return transition_mu_; }
  [[nodiscard]] double beam_mu() const { return beam_mu_; }
  /// Continuous machine gantry angle of each control point.
  [[nodiscard]] const std::vector<double>& gantry_machine_deg() const { return gantry_deg_; }
  [[nodiscard]] const Beam& beam() const { return beam_; }

 private:
  Beam beam_;
  double beam_mu_ = 0.0;
  std::vector<double> weight_;
  std::vector<double> gantry_deg_;
  std::vector<double> transition_mu_;
  [[nodiscard]] MachineSetpoint state(std::size_t i, double u) const;
};

/// An IEC 61217 angle in [0, 360) on the machine's continuous scale (-180, 180].
double machine_angle_deg(double iec_deg);
/// A machine-scale angle back to IEC 61217 [0, 360).
double iec_angle_deg(double machine_deg);

}  // namespace linac::delivery
