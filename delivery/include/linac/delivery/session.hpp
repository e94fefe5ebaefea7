#pragma once
// The delivery session: a state machine (prepared -> ready -> beam on <-> hold -> interrupted ->
// completed / terminated) and a fixed-rate control loop that talks to the HAL only. Each cycle:
// read the devices, compute the planned state at the delivered-MU fraction, check the
// interlocks, write the commands, append to the record. A hold stops dose (and freezes every
// set-point) in the cycle its cause is seen. Nothing throws inside the loop: faults become
// interlock events with a code, device, element, value, limit and time, and end in the record.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"
#include "linac/delivery/beam_path.hpp"
#include "linac/delivery/treatment_record.hpp"
#include "linac/delivery/validator.hpp"
#include "linac/hal/machine.hpp"

namespace linac::delivery {

enum class SessionState {
  kPrepared,
  kReady,
  kBeamOn,
  kHold,
  kInterrupted,
  kCompleted,
  kTerminated
};
std::string to_string(SessionState s);

/// Why the beam held, was refused, interrupted or terminated. Codes: leaf_deviation,
/// jaw_deviation, gantry_deviation, collimator_deviation, dose_channels_disagree,
/// dose_rate_dropout, dose_rate_excess, link_lost, jaws_not_at_position,
/// couch_not_at_position, axes_not_at_position, plan_checksum_mismatch,
/// secondary_termination, overspeed, stall, device_fault, record_write_failed,
/// operator_beam_off, beam_time_exceeded.
struct InterlockEvent {
  std::string code;
  std::string device;
  int element = -1;
  double value = 0.0;
  double limit = 0.0;
  double time_s = 0.0;  // machine time
  double at_mu = 0.0;   // primary channel, beam total
  std::string message;
};

/// One control cycle of a beam, from the first beam-on request to the end of the beam: what the
/// Dynalog and trajectory logs are written from.
struct CycleSample {
  double time_s = 0.0;      // since the first beam-on request of this session for the beam
  double primary_mu = 0.0;  // beam totals
  double secondary_mu = 0.0;
  bool beam_on = false;
  bool hold = false;
  bool transition = false;  // beam off by plan: the axes move to the next static segment
  double dose_rate_mu_per_min = 0.0;
  MachineSetpoint expected;  // planned at the delivered MU
  MachineSetpoint actual;    // measured; control_point copies the expected one
  double carriage_a_mm = 0.0;
  double carriage_b_mm = 0.0;
  hal::CouchPose couch;
};

struct BeamOutcome {
  std::string name;
  int number = 0;
  std::string status;  // completed, interrupted, terminated, refused
  double planned_mu = 0.0;
  double resumed_from_mu = 0.0;       // delivered before this session (from the record)
  double delivered_primary_mu = 0.0;  // as recorded (acknowledged)
  double delivered_secondary_mu = 0.0;
  double beam_on_s = 0.0;     // this session
  double start_time_s = 0.0;  // machine time of the beam-on request (samples count from it)
  int beam_holds = 0;         // interlock holds (axes behind, link lost)
  int transitions = 0;        // step-and-shoot moves made with the beam off (not holds)
  std::vector<InterlockEvent> interrupts;
  std::vector<CycleSample> samples;
};

struct SessionResult {
  std::string status;  // completed, interrupted, terminated
  std::vector<BeamOutcome> beams;
};

struct SessionOptions {
  int fraction = 1;
  /// Where the couch must be at beam on (the corrected position after IGRT); none: not checked.
  std::optional<hal::CouchPose> couch_position;
  double setup_timeout_s = 120.0;  // to bring the axes to the start of the beam
  double hold_timeout_s = 5.0;     // a self-clearing hold that lasts longer interrupts
  int max_holds = 10;              // more self-clearing holds in one beam interrupt it
  double record_period_s = 0.25;   // MU checkpoints while the beam is on
  /// Set-points lead the delivered MU by each axis's servo lag plus this much dose time.
  double lead_s = 0.02;
  /// The operator presses beam off at this much beam-on time of the session (drills, tests).
  std::optional<double> operator_beam_off_at_s;
  /// Machine time per wall-clock time: 1 paces the loop in real time, 10 ten times faster;
  /// 0 runs as fast as the machine answers (virtual-time mode, for QA and tests).
  double real_time_factor = 0.0;
  /// When set, the plan file is read again at beam on and its checksum compared.
  std::filesystem::path plan_file;
  /// Called at every state change (beam name, state).
  std::function<void(const std::string&, SessionState)> on_state;
};

class DeliverySession {
 public:
  /// Throws InputError when the report is not deliverable or is not the record's plan.
  DeliverySession(const Plan& plan, ValidationReport validated, MachineProfile profile,
                  hal::Machine& machine, TreatmentRecord& record, SessionOptions options = {});

  /// Delivers the beams in order, each from what the record says was delivered; stops at the
  /// first beam that does not complete.
  SessionResult run();
  [[nodiscard]] SessionState state() const { return state_; }

 private:
  class BeamRun;  // one beam's delivery (delivery/src/beam_run.hpp)
  void set_state(const std::string& beam, SessionState s, double primary_mu, double secondary_mu);

  const Plan& plan_;
  Plan delivered_;  // plan_ as the MLC controller delivers it (mlc_controller.hpp)
  ValidationReport validated_;
  MachineProfile profile_;
  hal::Machine& machine_;
  TreatmentRecord& record_;
  SessionOptions options_;
  SessionState state_ = SessionState::kPrepared;
};

}  // namespace linac::delivery
