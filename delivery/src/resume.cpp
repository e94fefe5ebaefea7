#include "resume.hpp"

#include <algorithm>

namespace linac::delivery::detail {

ResumePoint reconcile_resume(TreatmentRecord& record, int fraction, const std::string& beam,
                             const hal::DoseState& machine_counts, const MachineProfile& profile,
                             double record_period_s, double t_s) {
  ResumePoint out;
  const auto last = record.last_checkpoint(fraction, beam);
  if (!last) return out;
  out.primary_mu = last->primary_mu;
  out.secondary_mu = last->secondary_mu;
  const double run_p = last->primary_mu - last->base_primary_mu;
  const double max_gap =
      profile.dose.max_dose_rate_mu_per_min / 60.0 * std::max(record_period_s, 1.0) +
      profile.dose.secondary_limit_over_preset_mu;
  const auto& c = machine_counts;
  if (c.primary_mu >= run_p - 1e-6 && c.primary_mu <= run_p + max_gap) {
    out.primary_mu = last->base_primary_mu + c.primary_mu;
    out.secondary_mu = last->base_secondary_mu + c.secondary_mu;
    if (out.primary_mu > last->primary_mu + 1e-9) {
      record.record_mu(
          fraction, beam,
          {out.primary_mu, out.secondary_mu, last->base_primary_mu, last->base_secondary_mu, t_s});
    }
  }
  return out;
}

}  // namespace linac::delivery::detail
