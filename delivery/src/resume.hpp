#pragma once
// Where an interrupted beam resumes: the treatment record's last checkpoint, reconciled with the
// machine's own monitor-chamber counts when the machine still holds the run the record was
// counting (a controller, or its link, that died mid-beam). Internal to the delivery module.
#include <string>

#include "linac/core/machine_profile.hpp"
#include "linac/delivery/treatment_record.hpp"
#include "linac/hal/devices.hpp"

namespace linac::delivery::detail {

/// MU already delivered by beam `beam` of `fraction` (0, 0 without a checkpoint). The machine's
/// counts are taken when they continue the recorded run — at least what the record holds, at
/// most what the beam could deliver between two checkpoints (`record_period_s`) plus the
/// secondary channel's margin — and then written to the record (at `t_s`) before delivery goes
/// on, so that nothing the machine delivered is delivered again. Otherwise the record stands.
struct ResumePoint {
  double primary_mu = 0.0;
  double secondary_mu = 0.0;
};
ResumePoint reconcile_resume(TreatmentRecord& record, int fraction, const std::string& beam,
                             const hal::DoseState& machine_counts, const MachineProfile& profile,
                             double record_period_s, double t_s);

}  // namespace linac::delivery::detail
