#pragma once
// Replay, the digital twin: the control-point sequence a recorded delivery was driven by, rebuilt
// from its log, so that it can be delivered again on the simulated Clinac and the simulation
// compared with the machine (`linac replay`).
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"
#include "linac/delivery/machine_log.hpp"

namespace linac::delivery {

/// One beam whose control points are the log's: one where the log's segment (Dynalog) or
/// control point (trajectory log) changes, and at its first and last beam-on snapshots, each
/// with the expected leaf positions, the jaws, gantry and collimator recorded there, and the
/// cumulative meterset weight the log gives — the dose fraction, or for a VMAT Dynalog (which
/// records the gantry in the dose column) the fraction of the gantry's travel, as pylinac reads
/// it. `beam_mu` is the beam's MU (a Dynalog does not carry it); 0 takes the log's (trajectory
/// logs). What the machine needs changed is said in `notes` (may be null): an arc outside the
/// gantry's range where it was recorded is turned by 180 degrees (same travel and speeds), and
/// leaf pairs closer than the minimum gap are opened to it. Throws InputError naming the log for
/// one without beam-on snapshots or MU.
Plan plan_from_log(const MachineLog& log, double beam_mu, const MachineProfile& profile,
                   std::vector<std::string>* notes = nullptr);

/// Figures of one delivery, recorded or simulated, for the replay's comparison.
struct DeliveryFigures {
  double beam_on_s = 0.0;
  double rms_mean_mm = 0.0;
  double rms_max_mm = 0.0;
  double p95_mm = 0.0;
  int beam_holds = 0;
  double gantry_travel_deg = 0.0;
  double gantry_speed_mean_deg_per_s = 0.0;  // travel over beam-on time
  double gantry_speed_max_deg_per_s = 0.0;   // over 1 s windows of beam-on snapshots
};

/// `leaf_boundaries_mm`: the MLC's (log_qa.hpp's analysis).
DeliveryFigures delivery_figures(const MachineLog& log,
                                 const std::vector<double>& leaf_boundaries_mm);

}  // namespace linac::delivery
