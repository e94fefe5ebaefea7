#pragma once
// The interlock rules the delivery session applies every control cycle (delivery/src only):
// how the machine's readings compare with the planned state, which conditions clear by
// themselves (the beam holds) and which terminate the beam, and the event each raises.
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/delivery/beam_path.hpp"
#include "linac/delivery/session.hpp"
#include "linac/hal/devices.hpp"

namespace linac::delivery::detail {

/// "A12" / "B3" for MLC element `element` of a bank of `pairs` leaves (A first).
std::string leaf_name(int element, int pairs);
/// Conditions that clear by themselves (an axis catching up, the link coming back): the beam
/// holds and resumes when they clear within the hold timeout. Everything else interrupts.
bool self_clearing(const std::string& code);
/// Conditions that terminate the beam (no resumption of this run).
bool terminating(const std::string& code);
/// The axes' state as the machine reports it.
MachineSetpoint measured(const hal::Machine& m);

/// Largest deviation of each axis group from the planned state, with the worst element of each.
struct Deviations {
  double leaf_mm = 0.0;
  int leaf = -1;  // element, A bank first
  double jaw_mm = 0.0;
  int jaw = -1;  // 0..3: X1, X2, Y1, Y2
  double gantry_deg = 0.0;
  double collimator_deg = 0.0;
};
Deviations deviations(const MachineSetpoint& expected, const MachineSetpoint& actual);
/// "X1", "X2", "Y1", "Y2".
const char* jaw_name(int jaw);
/// The session's event code for a device fault.
std::string code_for(hal::FaultCode c);

/// The deviation interlocks (leaf, jaw, gantry, collimator beyond the profile's position
/// tolerances) at primary MU `at_mu` and machine time `time_s`, one event per axis group.
std::vector<InterlockEvent> axis_deviation_events(const MachineSetpoint& expected,
                                                  const MachineSetpoint& actual,
                                                  const MachineProfile& profile, double at_mu,
                                                  double time_s);

/// Why the beam may not come on at `start`, one event per reason: a jaw beyond its position
/// tolerance; the leaves, gantry or collimator not settled within a quarter of theirs; the couch
/// (when `couch` is given) beyond its tolerance of the corrected position. Empty: it may.
std::vector<InterlockEvent> beam_on_refusals(const MachineSetpoint& start, const hal::Machine& m,
                                             const MachineProfile& prof,
                                             const std::optional<hal::CouchPose>& couch,
                                             double at_mu, double time_s);

/// The dose channels' interlocks for this cycle: the channels disagreeing beyond the profile's
/// tolerance, and the secondary channel past the preset by its limit. `counts` since the run's
/// reset, `base_*` what the record held before it; `preset` this run's MU, `planned` the beam's.
std::vector<InterlockEvent> dose_channel_events(const hal::DoseState& counts, double base_primary,
                                                double base_secondary, double preset,
                                                double planned, const MachineProfile& prof,
                                                double time_s);

/// The dose-rate interlocks over successive cycles: dropout (the beam on and commanded, less
/// than a tenth of the rate arriving for longer than the profile's timeout) and excess (above the
/// highest rate commanded over the dose servo's settling by more than the tolerance, three
/// cycles running).
class DoseRateMonitor {
 public:
  explicit DoseRateMonitor(const MachineProfile& prof);
  /// This cycle's events. `delivering`: the session wants the beam on and it is on.
  std::vector<InterlockEvent> check(bool delivering, bool is_on, double rate_mu_per_min,
                                    double commanded_mu_per_min, double at_mu, double time_s);
  /// The rate commanded for the next cycle (0 while the beam is off).
  void commanded(double rate_mu_per_min);

 private:
  const MachineProfile& prof_;
  std::size_t settle_cycles_;
  double low_rate_s_ = 0.0;
  int excess_cycles_ = 0;
  std::deque<double> recent_;  // commanded rates over the dose servo's settling
};

}  // namespace linac::delivery::detail
