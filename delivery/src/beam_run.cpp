#include "beam_run.hpp"

#include <algorithm>
#include <cmath>
#include <thread>
#include <utility>

#include "linac/core/text.hpp"
#include "linac/formats/plan_io.hpp"
#include "resume.hpp"

namespace linac::delivery {

using hal::FaultCode;
using namespace detail;  // the interlock rules (interlocks.hpp)

DeliverySession::BeamRun::BeamRun(DeliverySession& session, const Beam& beam)
    : session_(session),
      beam_(beam),
      m_(session.machine_),
      prof_(session.profile_),
      options_(session.options_),
      record_(session.record_),
      fraction_(session.options_.fraction),
      cycle_s_(session.profile_.interlocks.control_cycle_s),
      planned_mu_(beam.meterset_mu) {
  out_.name = beam.name;
  out_.number = static_cast<int>(beam.number);
  out_.planned_mu = beam.meterset_mu;
}

BeamOutcome DeliverySession::BeamRun::run() {
  if (!not_finished_before() || !resume_leaves_mu() || !axes_at_start() || !plan_is_validated()) {
    return out_;
  }
  beam_on();
  while (!cycle()) {
  }
  return out_;
}

// --- Phases ---------------------------------------------------------------------------------

/// A beam the record has completed or terminated is not delivered again.
bool DeliverySession::BeamRun::not_finished_before() {
  const BeamStatus status = record_.beam_status(fraction_, beam_.name);
  if (status != BeamStatus::kCompleted && status != BeamStatus::kTerminated) return true;
  const auto last = record_.last_checkpoint(fraction_, beam_.name);
  out_.status = status == BeamStatus::kCompleted ? "completed" : "terminated";
  out_.resumed_from_mu = last ? last->primary_mu : 0.0;
  out_.delivered_primary_mu = out_.resumed_from_mu;
  out_.delivered_secondary_mu = last ? last->secondary_mu : 0.0;
  return false;
}

/// What was delivered: the record, reconciled with the machine's own counts (resume.hpp). A beam
/// with nothing left is completed in the record.
bool DeliverySession::BeamRun::resume_leaves_mu() {
  t_ = m_.clock->now_s();
  t_wall0_ = t_;
  wall0_ = std::chrono::steady_clock::now();
  step();
  (void)m_.take_faults();  // from before this beam: not this beam's
  const ResumePoint resume = reconcile_resume(record_, fraction_, beam_.name, m_.dose->counts(),
                                              prof_, options_.record_period_s, t_);
  base_p_ = resume.primary_mu;
  base_s_ = resume.secondary_mu;
  out_.resumed_from_mu = base_p_;
  out_.delivered_primary_mu = base_p_;
  out_.delivered_secondary_mu = base_s_;
  if (base_p_ >= planned_mu_ - 0.005) {
    record_.complete_beam(fraction_, beam_.name, base_p_, base_s_);
    out_.status = "completed";
    return false;
  }
  path_.emplace(beam_);
  return true;
}

/// Ready: the axes brought to the planned state at the delivered MU. A device fault on the way
/// refuses beam on (it is an event, not a condition that clears); otherwise the axes must settle
/// at the start before the setup timeout, and keep coming closer.
bool DeliverySession::BeamRun::axes_at_start() {
  set_state(SessionState::kReady, base_p_, base_s_);
  const MachineSetpoint start = path_->at_mu(base_p_);
  beam_off();
  command_axes(start);
  if (options_.couch_position) m_.couch->command(*options_.couch_position);
  m_.write_all(t_);
  const double setup_end = t_ + options_.setup_timeout_s;
  double best = 1e300;
  double best_at = t_;
  while (true) {
    step();
    std::vector<InterlockEvent> faults;
    for (const auto& f : m_.take_faults()) {
      if (f.code != FaultCode::kLinkLost) {
        faults.push_back(event(code_for(f.code), f.device, f.element, f.value, f.limit, base_p_,
                               "beam on refused: " + f.describe()));
      }
    }
    if (!faults.empty()) {
      set_state(SessionState::kInterrupted, base_p_, base_s_);
      interrupt(std::move(faults), base_p_, base_s_, "refused");
      return false;
    }
    std::vector<InterlockEvent> refusals =
        beam_on_refusals(start, m_, prof_, options_.couch_position, base_p_, t_);
    if (refusals.empty()) return true;
    // Give up when time is out, or when nothing has come closer for two seconds.
    double worst = 0.0;
    for (const auto& r : refusals) worst += r.value;
    if (worst < best - 1e-3) {
      best = worst;
      best_at = t_;
    }
    if (t_ >= setup_end || t_ - best_at > 2.0) {
      set_state(SessionState::kInterrupted, base_p_, base_s_);
      interrupt(std::move(refusals), base_p_, base_s_, "refused");
      return false;
    }
    m_.write_all(t_);
  }
}

/// Rule 1: the plan at beam on is the plan that was validated (and, with a plan file, the file
/// read again now).
bool DeliverySession::BeamRun::plan_is_validated() {
  std::string checksum = plan_checksum(session_.plan_);
  if (!options_.plan_file.empty()) {
    try {
      const std::string on_disk = plan_checksum(read_plan(options_.plan_file));
      if (on_disk != checksum) checksum = on_disk;
    } catch (const std::exception& e) {
      checksum = std::string("unreadable (") + e.what() + ")";
    }
  }
  const std::string& validated = session_.validated_.plan_checksum;
  if (checksum == validated) return true;
  set_state(SessionState::kInterrupted, base_p_, base_s_);
  interrupt({event("plan_checksum_mismatch", "plan", -1, 0.0, 0.0, base_p_,
                   "beam on refused: the plan's checksum is " + checksum +
                       ", the validated plan's " + validated)},
            base_p_, base_s_, "refused");
  return false;
}

/// Beam on: the run's counts reset, its start recorded, the trajectory sequenced.
void DeliverySession::BeamRun::beam_on() {
  m_.dose->reset_counts();
  preset_mu_ = planned_mu_ - base_p_;
  record_.record_mu(fraction_, beam_.name, {base_p_, base_s_, base_p_, base_s_, t_});
  traj_.emplace(sequence_beam(beam_, prof_));
  beam_time_limit_s_ = 2.0 * traj_->beam_on_s + 30.0;
  beam_start_t_ = t_;
  out_.start_time_s = t_;
  p_ = base_p_;
  s_ = base_s_;
  recorded_p_ = base_p_;
  recorded_s_ = base_s_;
  last_record_t_ = t_;
  dose_rate_.emplace(prof_);
  segment_stop_mu_ = path_->next_transition_mu(p_);
  set_state(SessionState::kBeamOn, p_, s_);
}

bool DeliverySession::BeamRun::cycle() {
  // Commands for this cycle go out with the previous write; read the new state.
  step();
  const Reading r = read();
  std::vector<InterlockEvent> now = conditions(r);

  // Records first: checkpoint at the period, and before any state change is reported.
  const bool done = r.counts.primary_mu >= preset_mu_ - 1e-6 || p_ >= planned_mu_ - 1e-6;
  const bool change = done || (!now.empty() && session_.state_ == SessionState::kBeamOn);
  if ((r.fresh && (change || t_ - last_record_t_ >= options_.record_period_s - 1e-9)) ||
      (change && p_ > recorded_p_ + 1e-9)) {
    checkpoint(now);
  }

  // Decide.
  bool terminate = false;
  bool stops = false;
  for (const auto& e : now) {
    if (terminating(e.code)) terminate = true;
    if (!self_clearing(e.code)) stops = true;
  }
  CycleSample sample = sample_of(r);
  if (done && !terminate && completed(r, sample)) return true;
  if (terminate || stops) {
    stop(r, std::move(sample), std::move(now), terminate);
    return true;
  }
  hold_or_clear(r, now);
  if (transition_timed_out(r, sample) || hold_timed_out(r, sample, now)) return true;

  command(r);
  dose_rate_->commanded(rate_cmd_);
  sample.hold = session_.state_ == SessionState::kHold;
  out_.samples.push_back(std::move(sample));
  m_.write_all(t_);
  return false;
}

// --- The cycle's parts ------------------------------------------------------------------------

DeliverySession::BeamRun::Reading DeliverySession::BeamRun::read() {
  const auto& counts = m_.dose->counts();
  p_ = base_p_ + counts.primary_mu;
  s_ = base_s_ + counts.secondary_mu;
  Reading r{counts,
            path_->at_mu(p_),
            measured(m_),
            m_.beam->state().beam_on,
            m_.beam->state().dose_rate_mu_per_min,
            m_.link == nullptr || m_.link->missed_cycles() == 0,
            {}};
  if (r.is_on) beam_on_s_ += cycle_s_;
  r.deviations = deviations(r.expected, r.actual);
  return r;
}

/// The conditions seen this cycle: device faults, the link, the axes (not while they move to
/// the next static segment with the beam off), the dose channels and rate, the beam-on time,
/// the operator.
std::vector<InterlockEvent> DeliverySession::BeamRun::conditions(const Reading& r) {
  std::vector<InterlockEvent> now;
  for (const auto& f : m_.take_faults()) {
    now.push_back(event(code_for(f.code), f.device, f.element, f.value, f.limit, p_, f.describe()));
  }
  const bool link_down = m_.link != nullptr && m_.link->lost();
  if (link_down &&
      std::none_of(now.begin(), now.end(), [](const auto& e) { return e.code == "link_lost"; })) {
    now.push_back(event(
        "link_lost", "link", -1, m_.link->missed_cycles(), prof_.interlocks.heartbeat_loss_cycles,
        p_,
        "no reply from the machine for " + std::to_string(m_.link->missed_cycles()) + " cycles"));
  }
  if (session_.state_ == SessionState::kBeamOn && !in_transition_ &&
      segment_stop_mu_ < planned_mu_ - 1e-6 && p_ >= segment_stop_mu_ - 1e-6) {
    in_transition_ = true;  // the beam ended at the segment's preset
    transition_since_ = t_;
    clear_cycles_ = 0;
    ++out_.transitions;
  }
  if (r.fresh) {
    // While the axes move to the next segment with the beam off, their distance from it is
    // not a deviation; the transition's own timeout covers an axis that never arrives.
    if (!in_transition_) {
      for (auto& e : axis_deviation_events(r.expected, r.actual, prof_, p_, t_)) {
        now.push_back(std::move(e));
      }
    }
    for (auto& e :
         dose_channel_events(r.counts, base_p_, base_s_, preset_mu_, planned_mu_, prof_, t_)) {
      now.push_back(std::move(e));
    }
    for (auto& e : dose_rate_->check(session_.state_ == SessionState::kBeamOn && r.is_on, r.is_on,
                                     r.rate_mu_per_min, rate_cmd_, p_, t_)) {
      now.push_back(std::move(e));
    }
  }
  if (beam_on_s_ > beam_time_limit_s_) {
    now.push_back(event("beam_time_exceeded", "beam", -1, beam_on_s_, beam_time_limit_s_, p_,
                        "beam-on time " + format_measured(beam_on_s_, 2) +
                            " s exceeds the limit of " + format_number(beam_time_limit_s_) + " s"));
  }
  if (options_.operator_beam_off_at_s && !operator_off_done_ &&
      beam_on_s_ >= *options_.operator_beam_off_at_s) {
    operator_off_done_ = true;
    now.push_back(event("operator_beam_off", "console", -1, p_, planned_mu_, p_,
                        "beam off by the operator at " + format_measured(p_) + " MU"));
  }
  return now;
}

/// The MU checkpointed — also when the link has gone quiet: the last counts the machine reported
/// are below what it has delivered, never above, and a resume must not deliver them again (a
/// machine that dies between two checkpoints took up to a period of MU with it; scripts/chaos
/// found it). A record that cannot be written is a condition of this cycle.
void DeliverySession::BeamRun::checkpoint(std::vector<InterlockEvent>& now) {
  if (!record_now()) now.push_back(active_.back());
}

CycleSample DeliverySession::BeamRun::sample_of(const Reading& r) const {
  CycleSample sample;
  sample.time_s = t_ - beam_start_t_;
  sample.primary_mu = p_;
  sample.secondary_mu = s_;
  sample.beam_on = r.is_on;
  sample.dose_rate_mu_per_min = r.rate_mu_per_min;
  sample.transition = in_transition_;
  sample.expected = r.expected;
  sample.actual = r.actual;
  sample.actual.control_point = r.expected.control_point;
  sample.carriage_a_mm = m_.mlc->state().carriage_a_mm;
  sample.carriage_b_mm = m_.mlc->state().carriage_b_mm;
  sample.couch = m_.couch->state();
  return sample;
}

/// The preset reached: beam off, and the beam completed in the record when the record holds its
/// MU. False when it does not (the loop goes on and the checkpoint is tried again).
bool DeliverySession::BeamRun::completed(const Reading& r, CycleSample& sample) {
  beam_off();
  m_.write_all(t_);
  sample.beam_on = true;  // it was, until the preset ended it within this cycle
  out_.samples.push_back(sample);
  out_.beam_on_s = beam_on_s_;
  out_.delivered_primary_mu = recorded_p_;
  out_.delivered_secondary_mu = recorded_s_;
  if (recorded_p_ < planned_mu_ - 1e-6 && r.counts.primary_mu < preset_mu_ - 1e-6) return false;
  try {
    record_.complete_beam(fraction_, beam_.name, p_, s_);
    set_state(SessionState::kCompleted, p_, s_);
    out_.status = "completed";
  } catch (const std::exception& e) {
    interrupt({event("record_write_failed", "record", -1, p_, recorded_p_, p_, e.what())}, p_, s_,
              "interrupted");
  }
  return true;
}

/// A condition that does not clear by itself: beam off, the axes held at the delivered MU's
/// state, the last counts let in and recorded; the beam interrupted (resumable) or terminated.
void DeliverySession::BeamRun::stop(const Reading& r, CycleSample sample,
                                    std::vector<InterlockEvent> now, bool terminate) {
  beam_off();
  command_axes(r.expected);
  m_.write_all(t_);
  sample.hold = true;
  out_.samples.push_back(std::move(sample));
  out_.beam_on_s = beam_on_s_;
  // Let the last counts in (the beam stops at this write), then record them.
  step();
  p_ = base_p_ + m_.dose->counts().primary_mu;
  s_ = base_s_ + m_.dose->counts().secondary_mu;
  for (const auto& f : m_.take_faults()) {
    if (terminating(code_for(f.code))) terminate = true;
    now.push_back(event(code_for(f.code), f.device, f.element, f.value, f.limit, p_, f.describe()));
  }
  if (r.fresh || m_.link == nullptr || m_.link->missed_cycles() == 0) {
    try {
      record_.record_mu(fraction_, beam_.name, {p_, s_, base_p_, base_s_, t_});
      recorded_p_ = p_;
      recorded_s_ = s_;
    } catch (const std::exception&) {
    }
  }
  out_.delivered_primary_mu = recorded_p_;
  out_.delivered_secondary_mu = recorded_s_;
  const SessionState end = terminate ? SessionState::kTerminated : SessionState::kInterrupted;
  try {
    set_state(end, recorded_p_, recorded_s_);
    if (terminate) {
      record_.terminate_beam(fraction_, beam_.name, recorded_p_, recorded_s_, now.front().message);
    }
  } catch (const std::exception&) {
    session_.state_ = end;
  }
  std::vector<InterlockEvent> causes = active_;
  for (auto& e : now) {
    if (std::none_of(causes.begin(), causes.end(),
                     [&](const auto& c) { return c.code == e.code; })) {
      causes.push_back(e);
    }
  }
  interrupt(std::move(causes), recorded_p_, recorded_s_, terminate ? "terminated" : "interrupted");
}

/// A self-clearing condition holds the beam (dose off, set-points frozen at the delivered MU);
/// a hold clears, and a transition ends, with hysteresis: every axis back within 3/4 of its
/// tolerance for two cycles.
void DeliverySession::BeamRun::hold_or_clear(const Reading& r,
                                             const std::vector<InterlockEvent>& now) {
  if (!now.empty()) {
    if (session_.state_ == SessionState::kBeamOn) {
      ++out_.beam_holds;
      hold_since_ = t_;
      active_ = now;
      for (const auto& e : now) {
        try {
          record_.record_interruption({fraction_, beam_.name, p_, s_, e.code, e.device, e.element,
                                       e.value, e.limit, e.time_s, "beam hold: " + e.message});
        } catch (const std::exception&) {
        }
      }
      set_state(SessionState::kHold, p_, s_);
    }
    clear_cycles_ = 0;
    return;
  }
  if (session_.state_ != SessionState::kHold && !in_transition_) return;
  const Deviations& d = r.deviations;
  const double worst = std::max({d.leaf_mm / prof_.mlc.position_tolerance_mm,
                                 d.jaw_mm / prof_.jaws.position_tolerance_mm,
                                 d.gantry_deg / prof_.gantry.position_tolerance_deg,
                                 d.collimator_deg / prof_.collimator.position_tolerance_deg});
  clear_cycles_ = worst < 0.75 ? clear_cycles_ + 1 : 0;
  if (clear_cycles_ >= 2 && session_.state_ == SessionState::kHold) {
    active_.clear();
    clear_cycles_ = 0;
    set_state(SessionState::kBeamOn, p_, s_);
  } else if (clear_cycles_ >= 2) {
    in_transition_ = false;
    segment_stop_mu_ = path_->next_transition_mu(p_);
  }
}

/// An axis that does not reach the next segment: interrupted, as a hold that never clears.
bool DeliverySession::BeamRun::transition_timed_out(const Reading& r, CycleSample& sample) {
  if (!in_transition_ || session_.state_ != SessionState::kBeamOn ||
      !(t_ - transition_since_ > options_.hold_timeout_s)) {
    return false;
  }
  std::vector<InterlockEvent> causes = axis_deviation_events(r.expected, r.actual, prof_, p_, t_);
  if (causes.empty()) {
    const Deviations& d = r.deviations;
    causes.push_back(
        event("axes_not_at_position", "mlc", d.leaf, d.leaf_mm, prof_.mlc.position_tolerance_mm, p_,
              "worst leaf " + format_measured(d.leaf_mm) + " mm from the next segment"));
  }
  for (auto& c : causes) {
    c.message = "transition to control point " + std::to_string(r.expected.control_point) +
                " not completed within " + format_number(options_.hold_timeout_s) +
                " s: " + c.message;
  }
  sample.hold = true;
  end_interrupted(r.expected, sample, std::move(causes));
  return true;
}

/// A hold that does not clear within the hold timeout, or one hold too many: interrupted.
bool DeliverySession::BeamRun::hold_timed_out(const Reading& r, CycleSample& sample,
                                              const std::vector<InterlockEvent>& now) {
  if (session_.state_ != SessionState::kHold) return false;
  const bool too_many = out_.beam_holds > options_.max_holds;
  if (!(t_ - hold_since_ > options_.hold_timeout_s || too_many)) return false;
  std::vector<InterlockEvent> causes = active_.empty() ? now : active_;
  for (auto& c : causes) {
    c.message =
        (too_many ? std::to_string(out_.beam_holds) + " beam holds: "
                  : "hold not cleared within " + format_number(options_.hold_timeout_s) + " s: ") +
        c.message;
  }
  end_interrupted(r.expected, sample, std::move(causes));
  return true;
}

/// This cycle's commands. Beam on: the dose rate, and each axis's set-point leading the
/// delivered MU by its servo lag; otherwise beam off and the axes held at the delivered MU.
void DeliverySession::BeamRun::command(const Reading& r) {
  if (session_.state_ != SessionState::kBeamOn || in_transition_) {
    rate_cmd_ = 0.0;
    beam_off();
    command_axes(r.expected);
    return;
  }
  // Dose rate: the segment's planned rate, lowered while the gantry lags (the dose servo waits
  // for the gantry rather than letting it fall out of tolerance). Leaves are not waited for: a
  // leaf that cannot follow is a fault, and holds the beam.
  const auto& segments = traj_->segments;
  const auto seg = static_cast<std::size_t>(
      std::clamp(r.expected.control_point, 0, static_cast<int>(segments.size()) - 1));
  double planned_rate =
      segments.empty() ? prof_.dose.max_dose_rate_mu_per_min : segments[seg].dose_rate_mu_per_min;
  if (planned_rate <= 0.0) planned_rate = prof_.dose.max_dose_rate_mu_per_min;
  const double lag = r.deviations.gantry_deg / prof_.gantry.position_tolerance_deg;
  double scale = std::clamp((0.9 - lag) / 0.4, 0.1, 1.0);
  // While the gantry accelerates (beam on, after a hold), the MU wait for it: the dose rate
  // follows the speed the gantry has plus what it gains in a few cycles.
  const double planned_speed =
      segments.empty() ? 0.0 : std::abs(segments[seg].gantry_speed_deg_per_s);
  if (planned_speed > 0.1) {
    const double reachable = std::abs(m_.gantry->state().speed_deg_per_s) +
                             prof_.gantry.max_acceleration_deg_per_s2 * 5.0 * cycle_s_;
    scale = std::min(scale, std::clamp(reachable / planned_speed, 0.1, 1.0));
  }
  rate_cmd_ = std::min(planned_rate * scale, prof_.dose.max_dose_rate_mu_per_min);
  // Each axis's set-point leads the delivered MU by its servo lag plus the cycle, up to the
  // segment's end: nothing moves towards the next segment before the beam has stopped.
  const double mu_per_s = rate_cmd_ / 60.0;
  auto lead = [&](double servo_s) {
    return path_->approaching_mu(
        std::min(p_ + mu_per_s * (servo_s + options_.lead_s), segment_stop_mu_));
  };
  const MachineSetpoint mlc_sp = lead(prof_.mlc.servo_time_constant_s);
  const MachineSetpoint gantry_sp = lead(prof_.gantry.servo_time_constant_s);
  const MachineSetpoint coll_sp = lead(prof_.collimator.servo_time_constant_s);
  m_.gantry->command({gantry_sp.gantry_deg, 0.0});
  m_.collimator->command({coll_sp.collimator_deg, 0.0});
  m_.jaws->command({mlc_sp.jaw_x1_mm, mlc_sp.jaw_x2_mm, mlc_sp.jaw_y1_mm, mlc_sp.jaw_y2_mm});
  m_.mlc->command({mlc_sp.leaf_a_mm, mlc_sp.leaf_b_mm});
  m_.beam->command(
      {true, rate_cmd_, beam_.nominal_energy_mv, std::min(preset_mu_, segment_stop_mu_ - base_p_)});
}

// --- Helpers ----------------------------------------------------------------------------------

/// One control cycle of machine time (paced against the wall clock when asked), then the
/// devices read.
void DeliverySession::BeamRun::step() {
  t_ += cycle_s_;
  if (options_.real_time_factor > 0.0) {
    std::this_thread::sleep_until(
        wall0_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                     std::chrono::duration<double>((t_ - t_wall0_) / options_.real_time_factor)));
  }
  m_.clock->advance_to(t_);
  m_.read_all(t_);
}

InterlockEvent DeliverySession::BeamRun::event(std::string code, std::string device, int element,
                                               double value, double limit, double at_mu,
                                               std::string message) const {
  return InterlockEvent{std::move(code), std::move(device), element, value, limit, t_,
                        at_mu,           std::move(message)};
}

void DeliverySession::BeamRun::command_axes(const MachineSetpoint& s) {
  m_.gantry->command({s.gantry_deg, 0.0});
  m_.collimator->command({s.collimator_deg, 0.0});
  m_.jaws->command({s.jaw_x1_mm, s.jaw_x2_mm, s.jaw_y1_mm, s.jaw_y2_mm});
  m_.mlc->command({s.leaf_a_mm, s.leaf_b_mm});
}

void DeliverySession::BeamRun::beam_off() {
  m_.beam->command({false, 0.0, beam_.nominal_energy_mv, std::max(0.0, planned_mu_ - base_p_)});
}

/// The events in the record (as far as it can be written) and the outcome, which ends `status`.
void DeliverySession::BeamRun::interrupt(std::vector<InterlockEvent> events, double p, double s,
                                         const std::string& status) {
  for (auto& e : events) {
    Interruption i{fraction_, beam_.name, p,       s,        e.code,   e.device,
                   e.element, e.value,    e.limit, e.time_s, e.message};
    try {
      record_.record_interruption(i);
    } catch (const std::exception&) {
      // The record is failing (disk full): the event stays in the outcome and the log.
    }
    out_.interrupts.push_back(std::move(e));
  }
  out_.status = status;
}

bool DeliverySession::BeamRun::record_now() {
  try {
    record_.record_mu(fraction_, beam_.name, {p_, s_, base_p_, base_s_, t_});
    recorded_p_ = p_;
    recorded_s_ = s_;
    last_record_t_ = t_;
    return true;
  } catch (const std::exception& e) {
    active_.push_back(event("record_write_failed", "record", -1, p_, recorded_p_, p_,
                            std::string("the treatment record cannot be written: ") + e.what()));
    return false;
  }
}

/// A hold that does not clear, or a move that does not complete: beam off, the axes held at the
/// delivered MU's state, the last sample kept, the beam interrupted (resumable) for `causes`.
void DeliverySession::BeamRun::end_interrupted(const MachineSetpoint& at, CycleSample last,
                                               std::vector<InterlockEvent> causes) {
  beam_off();
  command_axes(at);
  m_.write_all(t_);
  out_.samples.push_back(std::move(last));
  out_.beam_on_s = beam_on_s_;
  out_.delivered_primary_mu = recorded_p_;
  out_.delivered_secondary_mu = recorded_s_;
  try {
    set_state(SessionState::kInterrupted, recorded_p_, recorded_s_);
  } catch (const std::exception&) {
    session_.state_ = SessionState::kInterrupted;
  }
  interrupt(std::move(causes), recorded_p_, recorded_s_, "interrupted");
}

void DeliverySession::BeamRun::set_state(SessionState s, double primary_mu, double secondary_mu) {
  session_.set_state(beam_.name, s, primary_mu, secondary_mu);
}

}  // namespace linac::delivery
