#pragma once
// What the MLC controller does to a plan before it moves a leaf. Planning systems export the
// leaf pairs a field does not use closed (gap 0, parked under a jaw); a Millennium controller
// cannot close a pair below its minimum dynamic gap, so it opens each such pair to that gap at a
// position the jaws shield. The product delivers plans the same way and says so: every opened
// pair is an adjustment in the validation report, never a silent change. A pair closed inside
// the open field (no jaw shields it) is left as planned, and the validator refuses it.
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"

namespace linac::delivery {

/// One leaf pair of one beam opened by the controller, summed over its control points.
struct Adjustment {
  std::string beam;
  int leaf_pair = 0;            // 1-based, as the validator and the machine's display count
  int control_points = 0;       // at how many control points it was opened
  int first_control_point = 0;  // 0-based index of the first
  double smallest_planned_gap_mm = 0.0;
  double opened_gap_mm = 0.0;  // the profile's minimum dynamic gap
  std::string shielded_by;     // "jaw X1", "jaw X2", "jaws Y" (the row lies outside the Y jaws)
  std::string message;         // one line: beam, pair, control points, gap, where it was opened
};

/// `plan` as the controller delivers it: each leaf pair whose gap is below the profile's
/// minimum dynamic gap is opened to that gap where the jaws shield it — a row outside the Y jaws
/// about its own centre; a pair closed at or behind the X1 jaw by retracting its B leaf (the A
/// leaf stays, at or behind the jaw); one at or behind the X2 jaw by retracting its A leaf. Every
/// opened pair is appended to `adjustments` (one entry per beam and pair). Deterministic: the
/// validator and the delivery session call it on the same plan and get the same result.
Plan as_delivered(const Plan& plan, const MachineProfile& profile,
                  std::vector<Adjustment>* adjustments = nullptr);

/// One line per beam for a terminal: how many pairs were opened, and which, grouped by the jaw
/// that shields them ("beam 'G000': 37 closed leaf pairs opened to 0.5 mm: 1-18, 45-60 under
/// jaws Y; 27-28 under jaw X1; 34 under jaw X2").
std::vector<std::string> summarise(const std::vector<Adjustment>& adjustments);

}  // namespace linac::delivery
