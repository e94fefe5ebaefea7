#pragma once
// One beam's delivery within a session (delivery/src only): its state outside the session, its
// phases as functions. Ready — the axes brought to the set-points at the MU the record says were
// delivered; the plan's checksum checked (rule 1); then the control loop, one cycle at a time:
// read the machine, collect this cycle's conditions, checkpoint the MU, decide (complete,
// stop, hold or clear), command. Nothing throws inside the loop; every end fills the outcome.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "interlocks.hpp"
#include "linac/delivery/beam_path.hpp"
#include "linac/delivery/session.hpp"
#include "linac/delivery/trajectory.hpp"

namespace linac::delivery {

class DeliverySession::BeamRun {
 public:
  BeamRun(DeliverySession& session, const Beam& beam);
  /// Delivers the beam from what the record holds to its end; the outcome says how it ended.
  /// Only the record can throw, and only before the beam comes on.
  BeamOutcome run();

 private:
  /// What one control cycle read from the machine (the readings after its `step`).
  struct Reading {
    const hal::DoseState& counts;  // since this run's reset
    MachineSetpoint expected;      // the plan at the delivered MU
    MachineSetpoint actual;
    bool is_on = false;
    double rate_mu_per_min = 0.0;
    bool fresh = false;  // the link answered this cycle (or there is no link)
    detail::Deviations deviations;
  };

  // Phases, in order. Each returns false when the beam ends there (the outcome filled).
  bool not_finished_before();
  bool resume_leaves_mu();
  bool axes_at_start();
  bool plan_is_validated();
  void beam_on();
  /// One control cycle of the beam-on loop; true when the beam has ended.
  bool cycle();

  // The cycle's parts.
  Reading read();
  std::vector<InterlockEvent> conditions(const Reading& r);
  void checkpoint(std::vector<InterlockEvent>& now);
  [[nodiscard]] CycleSample sample_of(const Reading& r) const;
  bool completed(const Reading& r, CycleSample& sample);
  void stop(const Reading& r, CycleSample sample, std::vector<InterlockEvent> now, bool terminate);
  void hold_or_clear(const Reading& r, const std::vector<InterlockEvent>& now);
  bool transition_timed_out(const Reading& r, CycleSample& sample);
  bool hold_timed_out(const Reading& r, CycleSample& sample,
                      const std::vector<InterlockEvent>& now);
  void command(const Reading& r);

  // Helpers.
  void step();
  [[nodiscard]] InterlockEvent event(std::string code, std::string device, int element,
                                     double value, double limit, double at_mu,
                                     std::string message) const;
  void command_axes(const MachineSetpoint& s);
  void beam_off();
  void interrupt(std::vector<InterlockEvent> events, double p, double s, const std::string& status);
  bool record_now();
  void end_interrupted(const MachineSetpoint& at, CycleSample last,
                       std::vector<InterlockEvent> causes);
  void set_state(SessionState s, double primary_mu, double secondary_mu);

  DeliverySession& session_;
  const Beam& beam_;
  hal::Machine& m_;
  const MachineProfile& prof_;
  const SessionOptions& options_;
  TreatmentRecord& record_;
  const int fraction_;
  const double cycle_s_;
  const double planned_mu_;
  BeamOutcome out_;

  // Machine time, and the wall clock it is paced against.
  double t_ = 0.0;
  double t_wall0_ = 0.0;
  std::chrono::steady_clock::time_point wall0_;

  // Where this run started (the record reconciled with the machine) and what it has delivered.
  double base_p_ = 0.0;
  double base_s_ = 0.0;
  std::optional<BeamPath> path_;
  double preset_mu_ = 0.0;
  double p_ = 0.0;
  double s_ = 0.0;
  double recorded_p_ = 0.0;
  double recorded_s_ = 0.0;
  double last_record_t_ = 0.0;

  // The beam-on loop's state.
  std::optional<BeamTrajectory> traj_;
  std::optional<detail::DoseRateMonitor> dose_rate_;
  double beam_time_limit_s_ = 0.0;
  double beam_start_t_ = 0.0;
  double beam_on_s_ = 0.0;
  double hold_since_ = -1.0;
  int clear_cycles_ = 0;
  // Step-and-shoot: the beam stops at each transition (a zero-MU segment) by its preset, and the
  // axes move to the next segment with the beam off before it comes on again.
  double segment_stop_mu_ = 0.0;
  bool in_transition_ = false;
  double transition_since_ = 0.0;
  std::vector<InterlockEvent> active_;  // causes of the present hold
  bool operator_off_done_ = false;
  double rate_cmd_ = 0.0;
};

}  // namespace linac::delivery
