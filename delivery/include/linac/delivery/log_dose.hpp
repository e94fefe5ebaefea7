#pragma once
// Dose from delivery logs: the beam as the machine delivered it (actual gantry, collimator,
// jaws, leaves and cumulative MU of the beam-on snapshots), for the planning dose engine.
#include "linac/core/plan.hpp"
#include "linac/delivery/machine_log.hpp"

namespace linac::delivery {

/// A control point at the first beam-on snapshot, then wherever the actual gantry has turned
/// `gantry_step_deg` since the last one, and at the last beam-on snapshot; the meterset is the
/// delivered MU (`beam_mu` scales the log's dose fraction when it carries no MU, as Dynalogs).
/// Throws InputError naming the log when it has no beam-on snapshot or no MU.
Beam beam_from_log(const MachineLog& log, double gantry_step_deg = 2.0, double beam_mu = 0.0);

}  // namespace linac::delivery
