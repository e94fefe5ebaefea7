#include "interlocks.hpp"

#include <algorithm>
#include <cmath>

#include "linac/core/text.hpp"

namespace linac::delivery::detail {

using hal::FaultCode;

std::string leaf_name(int element, int pairs) {
  return element < pairs ? "A" + std::to_string(element + 1)
                         : "B" + std::to_string(element - pairs + 1);
}

bool self_clearing(const std::string& code) {
  return code == "leaf_deviation" || code == "jaw_deviation" || code == "gantry_deviation" ||
         code == "collimator_deviation" || code == "link_lost";
}

bool terminating(const std::string& code) {
  return code == "secondary_termination" || code == "dose_channels_disagree";
}

MachineSetpoint measured(const hal::Machine& m) {
  MachineSetpoint a;
  a.gantry_deg = m.gantry->state().angle_deg;
  a.collimator_deg = m.collimator->state().angle_deg;
  const auto& j = m.jaws->state();
  a.jaw_x1_mm = j.x1_mm;
  a.jaw_x2_mm = j.x2_mm;
  a.jaw_y1_mm = j.y1_mm;
  a.jaw_y2_mm = j.y2_mm;
  a.leaf_a_mm = m.mlc->state().leaf_a_mm;
  a.leaf_b_mm = m.mlc->state().leaf_b_mm;
  return a;
}

Deviations deviations(const MachineSetpoint& e, const MachineSetpoint& a) {
  Deviations d;
  const auto pairs = e.leaf_a_mm.size();
  for (std::size_t n = 0; n < pairs && n < a.leaf_a_mm.size() && n < a.leaf_b_mm.size(); ++n) {
    const double da = std::abs(a.leaf_a_mm[n] - e.leaf_a_mm[n]);
    const double db = std::abs(a.leaf_b_mm[n] - e.leaf_b_mm[n]);
    if (da > d.leaf_mm) {
      d.leaf_mm = da;
      d.leaf = static_cast<int>(n);
    }
    if (db > d.leaf_mm) {
      d.leaf_mm = db;
      d.leaf = static_cast<int>(n + pairs);
    }
  }
  const double jaws[4] = {std::abs(a.jaw_x1_mm - e.jaw_x1_mm), std::abs(a.jaw_x2_mm - e.jaw_x2_mm),
                          std::abs(a.jaw_y1_mm - e.jaw_y1_mm), std::abs(a.jaw_y2_mm - e.jaw_y2_mm)};
  for (int n = 0; n < 4; ++n) {
    if (jaws[n] > d.jaw_mm) {
      d.jaw_mm = jaws[n];
      d.jaw = n;
    }
  }
  d.gantry_deg = std::abs(a.gantry_deg - e.gantry_deg);
  d.collimator_deg = std::abs(a.collimator_deg - e.collimator_deg);
  return d;
}

const char* jaw_name(int jaw) {
  static const char* const kJawNames[4] = {"X1", "X2", "Y1", "Y2"};
  return jaw >= 0 && jaw < 4 ? kJawNames[jaw] : "-";
}

std::string code_for(FaultCode c) {
  switch (c) {
    case FaultCode::kSecondaryTermination:
      return "secondary_termination";
    case FaultCode::kOverspeed:
      return "overspeed";
    case FaultCode::kStall:
      return "stall";
    case FaultCode::kLinkLost:
      return "link_lost";
    case FaultCode::kDoseChannelsDisagree:
    case FaultCode::kDoseChannelStopped:
      return "dose_channels_disagree";
    case FaultCode::kDoseRateDropout:
      return "dose_rate_dropout";
    case FaultCode::kDoseRateExcess:
      return "dose_rate_excess";
    default:
      return "device_fault";
  }
}

std::vector<InterlockEvent> axis_deviation_events(const MachineSetpoint& expected,
                                                  const MachineSetpoint& actual,
                                                  const MachineProfile& prof, double at_mu,
                                                  double time_s) {
  std::vector<InterlockEvent> out;
  auto event = [&](std::string code, std::string device, int element, double value, double limit,
                   std::string message) {
    out.push_back(InterlockEvent{std::move(code), std::move(device), element, value, limit, time_s,
                                 at_mu, std::move(message)});
  };
  const Deviations d = deviations(expected, actual);
  const int pairs = static_cast<int>(expected.leaf_a_mm.size());
  if (d.leaf_mm > prof.mlc.position_tolerance_mm) {
    event("leaf_deviation", "mlc", d.leaf, d.leaf_mm, prof.mlc.position_tolerance_mm,
          "leaf " + leaf_name(d.leaf, pairs) + " is " + format_measured(d.leaf_mm) +
              " mm from its planned position " + "(tolerance " +
              format_number(prof.mlc.position_tolerance_mm) + " mm) at " + format_measured(at_mu) +
              " MU");
  }
  if (d.jaw_mm > prof.jaws.position_tolerance_mm) {
    event("jaw_deviation", "jaws", d.jaw, d.jaw_mm, prof.jaws.position_tolerance_mm,
          std::string("jaw ") + jaw_name(d.jaw) + " is " + format_measured(d.jaw_mm) +
              " mm from its planned position");
  }
  if (d.gantry_deg > prof.gantry.position_tolerance_deg) {
    event("gantry_deviation", "gantry", -1, d.gantry_deg, prof.gantry.position_tolerance_deg,
          "gantry at " + format_measured(iec_angle_deg(actual.gantry_deg)) + " deg is " +
              format_measured(d.gantry_deg) + " deg from its planned angle " +
              format_measured(iec_angle_deg(expected.gantry_deg)) + " deg");
  }
  if (d.collimator_deg > prof.collimator.position_tolerance_deg) {
    event("collimator_deviation", "collimator", -1, d.collimator_deg,
          prof.collimator.position_tolerance_deg,
          "collimator is " + format_measured(d.collimator_deg) + " deg from its planned angle");
  }
  return out;
}

std::vector<InterlockEvent> beam_on_refusals(const MachineSetpoint& start, const hal::Machine& m,
                                             const MachineProfile& prof,
                                             const std::optional<hal::CouchPose>& couch,
                                             double at_mu, double time_s) {
  std::vector<InterlockEvent> out;
  auto ev = [&](std::string code, std::string device, int element, double value, double limit,
                double mu, std::string message) {
    return InterlockEvent{std::move(code),   std::move(device), element, value, limit, time_s, mu,
                          std::move(message)};
  };
  const int pairs = prof.mlc.leaf_pairs;
  // At beam on the axes must have settled well inside their tolerances.
  const double settle = 0.25;
  const Deviations d = deviations(start, measured(m));
  if (d.jaw_mm > prof.jaws.position_tolerance_mm) {
    out.push_back(ev("jaws_not_at_position", "jaws", d.jaw, d.jaw_mm,
                     prof.jaws.position_tolerance_mm, at_mu,
                     std::string("beam on refused: jaw ") + jaw_name(d.jaw) + " is " +
                         format_measured(d.jaw_mm) + " mm from its position (tolerance " +
                         format_number(prof.jaws.position_tolerance_mm) + " mm)"));
  }
  const double off = std::max({d.leaf_mm / prof.mlc.position_tolerance_mm,
                               d.gantry_deg / prof.gantry.position_tolerance_deg,
                               d.collimator_deg / prof.collimator.position_tolerance_deg});
  if (off > settle) {
    // Value: the worst deviation as a fraction of its axis's tolerance.
    const char* axis = d.gantry_deg / prof.gantry.position_tolerance_deg >= off ? "gantry"
                       : d.collimator_deg / prof.collimator.position_tolerance_deg >= off
                           ? "collimator"
                           : "mlc";
    out.push_back(ev("axes_not_at_position", axis, d.leaf, off, settle, at_mu,
                     "beam on refused: gantry " + format_measured(d.gantry_deg) +
                         " deg, collimator " + format_measured(d.collimator_deg) +
                         " deg, worst leaf " +
                         (d.leaf >= 0 ? leaf_name(d.leaf, pairs) : std::string("-")) + " " +
                         format_measured(d.leaf_mm) + " mm from the start of the beam"));
  }
  if (couch) {
    const auto& want = *couch;
    const auto& c = m.couch->state();
    const double lin[3] = {c.lateral_mm - want.lateral_mm, c.longitudinal_mm - want.longitudinal_mm,
                           c.vertical_mm - want.vertical_mm};
    const double rot[3] = {c.rotation_deg - want.rotation_deg, c.pitch_deg - want.pitch_deg,
                           c.roll_deg - want.roll_deg};
    const char* names[6] = {"lateral", "longitudinal", "vertical", "rotation", "pitch", "roll"};
    for (int n = 0; n < 6; ++n) {
      const bool linear = n < 3;
      const double dev = std::abs(linear ? lin[n] : rot[n - 3]);
      const double tol =
          linear ? prof.couch.position_tolerance_mm : prof.couch.position_tolerance_deg;
      if (dev > tol) {
        out.push_back(ev("couch_not_at_position", "couch", n, dev, tol, at_mu,
                         std::string("beam on refused: couch ") + names[n] + " is " +
                             format_measured(dev) + (linear ? " mm" : " deg") +
                             " from the corrected position (tolerance " + format_number(tol) +
                             (linear ? " mm)" : " deg)")));
      }
    }
  }
  return out;
}

std::vector<InterlockEvent> dose_channel_events(const hal::DoseState& counts, double base_primary,
                                                double base_secondary, double preset,
                                                double planned, const MachineProfile& prof,
                                                double time_s) {
  std::vector<InterlockEvent> out;
  const double p = base_primary + counts.primary_mu;
  const double s = base_secondary + counts.secondary_mu;
  const double disagree = std::abs(counts.primary_mu - counts.secondary_mu);
  const double tol = std::max(prof.dose.channel_disagreement_tolerance_mu,
                              prof.dose.channel_disagreement_tolerance_pct / 100.0 *
                                  std::max(counts.primary_mu, counts.secondary_mu));
  if (disagree > tol) {
    out.push_back({"dose_channels_disagree", "dose", -1, disagree, tol, time_s, p,
                   "dose channels disagree by " + format_measured(disagree) + " MU (primary " +
                       format_measured(p) + " MU, secondary " + format_measured(s) +
                       " MU; tolerance " + format_measured(tol) + " MU)"});
  }
  if (counts.secondary_mu >= preset + prof.dose.secondary_limit_over_preset_mu) {
    out.push_back({"secondary_termination", "dose", 1, s,
                   planned + prof.dose.secondary_limit_over_preset_mu, time_s, p,
                   "secondary channel at " + format_measured(s) + " MU is past the preset " +
                       format_number(planned) + " MU by its limit"});
  }
  return out;
}

DoseRateMonitor::DoseRateMonitor(const MachineProfile& prof)
    : prof_(prof),
      settle_cycles_(
          static_cast<std::size_t>(std::ceil((5.0 * prof.dose.dose_rate_servo_time_constant_s) /
                                             prof.interlocks.control_cycle_s) +
                                   2)) {}

std::vector<InterlockEvent> DoseRateMonitor::check(bool delivering, bool is_on,
                                                   double rate_mu_per_min,
                                                   double commanded_mu_per_min, double at_mu,
                                                   double time_s) {
  std::vector<InterlockEvent> out;
  const double rate = rate_mu_per_min;
  const double cmd = commanded_mu_per_min;
  low_rate_s_ = delivering && cmd > 0.0 && rate < 0.1 * cmd
                    ? low_rate_s_ + prof_.interlocks.control_cycle_s
                    : 0.0;
  if (low_rate_s_ > prof_.dose.dose_rate_dropout_timeout_s) {
    out.push_back({"dose_rate_dropout", "beam", -1, rate, cmd, time_s, at_mu,
                   "dose rate " + format_measured(rate, 1) + " MU/min for " +
                       format_measured(low_rate_s_) + " s with " + format_measured(cmd, 1) +
                       " MU/min commanded"});
  }
  const double ref = recent_.empty() ? cmd : *std::max_element(recent_.begin(), recent_.end());
  const double limit = ref * (1.0 + prof_.dose.dose_rate_tolerance_pct / 100.0);
  excess_cycles_ = (is_on && rate > limit + 1e-9) ? excess_cycles_ + 1 : 0;
  if (excess_cycles_ >= 3) {
    out.push_back({"dose_rate_excess", "beam", -1, rate, limit, time_s, at_mu,
                   "dose rate " + format_measured(rate, 1) + " MU/min above the commanded " +
                       format_measured(ref, 1) + " MU/min by more than " +
                       format_number(prof_.dose.dose_rate_tolerance_pct) + " %"});
  }
  return out;
}

void DoseRateMonitor::commanded(double rate_mu_per_min) {
  recent_.push_back(rate_mu_per_min);
  if (recent_.size() > settle_cycles_) recent_.pop_front();
}

}  // namespace linac::delivery::detail
