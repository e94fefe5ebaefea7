#include "linac/delivery/session.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <thread>
#include <utility>

#include "interlocks.hpp"
#include "linac/core/error.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/trajectory.hpp"
#include "linac/formats/plan_io.hpp"
#include "resume.hpp"

namespace linac::delivery {

std::string to_string(SessionState s) {
  switch (s) {
    case SessionState::kPrepared:
      return "prepared";
    case SessionState::kReady:
      return "ready";
    case SessionState::kBeamOn:
      return "beam_on";
    case SessionState::kHold:
      return "hold";
    case SessionState::kInterrupted:
      return "interrupted";
    case SessionState::kCompleted:
      return "completed";
    case SessionState::kTerminated:
      return "terminated";
  }
  return "?";
}

namespace {

using hal::Fault;
using hal::FaultCode;
using namespace detail;  // the interlock rules (interlocks.hpp)

}  // namespace

DeliverySession::DeliverySession(const Plan& plan, ValidationReport validated,
                                 MachineProfile profile, hal::Machine& machine,
                                 TreatmentRecord& record, SessionOptions options)
    : plan_(plan),
      delivered_(as_delivered(plan, profile)),
      validated_(std::move(validated)),
      profile_(std::move(profile)),
      machine_(machine),
      record_(record),
      options_(std::move(options)) {
  if (!validated_.deliverable) {
    throw InputError("plan", "not deliverable on " + profile_.machine_name + " (" +
                                 std::to_string(validated_.violations.size()) +
                                 " violations): nothing is delivered that was not validated");
  }
  if (validated_.plan_checksum != record_.plan_checksum()) {
    throw InputError(record_.path().string(), "the record belongs to plan " +
                                                  record_.plan_checksum() + ", not to " +
                                                  validated_.plan_checksum);
  }
  if (machine_.clock == nullptr || machine_.mlc == nullptr || machine_.jaws == nullptr ||
      machine_.gantry == nullptr || machine_.collimator == nullptr || machine_.couch == nullptr ||
      machine_.beam == nullptr || machine_.dose == nullptr) {
    throw InputError("machine", "a device needed for delivery is missing");
  }
}

void DeliverySession::set_state(const std::string& beam, SessionState s, double primary_mu,
                                double secondary_mu) {
  if (s == state_) return;
  state_ = s;
  record_.record_state(options_.fraction, beam, to_string(s), primary_mu, secondary_mu,
                       machine_.clock->now_s());
  if (options_.on_state) options_.on_state(beam, s);
}

SessionResult DeliverySession::run() {
  SessionResult result;
  result.status = "completed";
  for (const Beam& beam : delivered_.beams) {
    BeamOutcome o;
    try {
      o = deliver_beam(beam);
    } catch (const std::exception& e) {
      // Only the record can throw here (disk full before the beam started): nothing delivered.
      o.name = beam.name;
      o.number = static_cast<int>(beam.number);
      o.planned_mu = beam.meterset_mu;
      o.status = "interrupted";
      o.interrupts.push_back(
          {"record_write_failed", "record", -1, 0.0, 0.0, machine_.clock->now_s(), 0.0, e.what()});
    }
    result.beams.push_back(std::move(o));
    const std::string& st = result.beams.back().status;
    if (st != "completed") {
      result.status = st == "terminated" ? "terminated" : "interrupted";
      break;
    }
  }
  return result;
}

BeamOutcome DeliverySession::deliver_beam(const Beam& beam) {
  const int fraction = options_.fraction;
  hal::Machine& m = machine_;
  const auto& prof = profile_;
  const double cycle_s = prof.interlocks.control_cycle_s;
  BeamOutcome out;
  out.name = beam.name;
  out.number = static_cast<int>(beam.number);
  out.planned_mu = beam.meterset_mu;

  const BeamStatus status = record_.beam_status(fraction, beam.name);
  if (status == BeamStatus::kCompleted || status == BeamStatus::kTerminated) {
    const auto last = record_.last_checkpoint(fraction, beam.name);
    out.status = status == BeamStatus::kCompleted ? "completed" : "terminated";
    out.resumed_from_mu = last ? last->primary_mu : 0.0;
    out.delivered_primary_mu = out.resumed_from_mu;
    out.delivered_secondary_mu = last ? last->secondary_mu : 0.0;
    return out;
  }

  double t = m.clock->now_s();
  const double t_wall0 = t;
  const auto wall0 = std::chrono::steady_clock::now();
  auto step = [&] {
    t += cycle_s;
    if (options_.real_time_factor > 0.0) {
      std::this_thread::sleep_until(
          wall0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>((t - t_wall0) / options_.real_time_factor)));
    }
    m.clock->advance_to(t);
    m.read_all(t);
  };
  step();
  std::vector<Fault> stale = m.take_faults();  // from before this beam: not this beam's

  // What was delivered: the record, reconciled with the machine's own counts (resume.hpp).
  const ResumePoint resume = reconcile_resume(record_, fraction, beam.name, m.dose->counts(), prof,
                                              options_.record_period_s, t);
  const double base_p = resume.primary_mu;
  const double base_s = resume.secondary_mu;
  out.resumed_from_mu = base_p;
  out.delivered_primary_mu = base_p;
  out.delivered_secondary_mu = base_s;
  const double planned = beam.meterset_mu;
  if (base_p >= planned - 0.005) {
    record_.complete_beam(fraction, beam.name, base_p, base_s);
    out.status = "completed";
    return out;
  }

  const BeamPath path(beam);
  auto event = [&](std::string code, std::string device, int element, double value, double limit,
                   double at_mu, std::string message) {
    return InterlockEvent{std::move(code), std::move(device), element, value, limit, t,
                          at_mu,           std::move(message)};
  };
  auto command_axes = [&](const MachineSetpoint& s) {
    m.gantry->command({s.gantry_deg, 0.0});
    m.collimator->command({s.collimator_deg, 0.0});
    m.jaws->command({s.jaw_x1_mm, s.jaw_x2_mm, s.jaw_y1_mm, s.jaw_y2_mm});
    m.mlc->command({s.leaf_a_mm, s.leaf_b_mm});
  };
  auto beam_off = [&] {
    m.beam->command({false, 0.0, beam.nominal_energy_mv, std::max(0.0, planned - base_p)});
  };
  auto interrupt = [&](std::vector<InterlockEvent> events, double p, double s,
                       const std::string& st) {
    for (auto& e : events) {
      Interruption i{fraction,  beam.name, p,       s,        e.code,   e.device,
                     e.element, e.value,   e.limit, e.time_s, e.message};
      try {
        record_.record_interruption(i);
      } catch (const std::exception&) {
        // The record is failing (disk full): the event stays in the outcome and the log.
      }
      out.interrupts.push_back(std::move(e));
    }
    out.status = st;
  };

  // --- Ready: bring the axes to the planned state at the delivered MU ----------------------
  set_state(beam.name, SessionState::kReady, base_p, base_s);
  const MachineSetpoint start = path.at_mu(base_p);
  beam_off();
  command_axes(start);
  if (options_.couch_position) m.couch->command(*options_.couch_position);
  m.write_all(t);
  std::vector<InterlockEvent> refusals;
  const double setup_end = t + options_.setup_timeout_s;
  double best = 1e300;
  double best_at = t;
  while (true) {
    step();
    std::vector<InterlockEvent> faults;
    for (const auto& f : m.take_faults()) {
      if (f.code != FaultCode::kLinkLost) {
        faults.push_back(event(code_for(f.code), f.device, f.element, f.value, f.limit, base_p,
                               "beam on refused: " + f.describe()));
      }
    }
    // A device fault while the axes come to the start refuses beam on (it is an event, not a
    // condition that clears); otherwise the axes must settle at the start.
    if (!faults.empty()) {
      set_state(beam.name, SessionState::kInterrupted, base_p, base_s);
      interrupt(std::move(faults), base_p, base_s, "refused");
      return out;
    }
    refusals = beam_on_refusals(start, m, prof, options_.couch_position, base_p, t);
    if (refusals.empty()) break;
    // Give up when time is out, or when nothing has come closer for two seconds.
    double worst = 0.0;
    for (const auto& r : refusals) worst += r.value;
    if (worst < best - 1e-3) {
      best = worst;
      best_at = t;
    }
    if (t >= setup_end || t - best_at > 2.0) {
      set_state(beam.name, SessionState::kInterrupted, base_p, base_s);
      interrupt(std::move(refusals), base_p, base_s, "refused");
      return out;
    }
    m.write_all(t);
  }

  // Rule 1: the plan at beam on is the plan that was validated.
  std::string checksum = plan_checksum(plan_);
  if (!options_.plan_file.empty()) {
    try {
      const std::string on_disk = plan_checksum(read_plan(options_.plan_file));
      if (on_disk != checksum) checksum = on_disk;
    } catch (const std::exception& e) {
      checksum = std::string("unreadable (") + e.what() + ")";
    }
  }
  if (checksum != validated_.plan_checksum) {
    set_state(beam.name, SessionState::kInterrupted, base_p, base_s);
    interrupt({event("plan_checksum_mismatch", "plan", -1, 0.0, 0.0, base_p,
                     "beam on refused: the plan's checksum is " + checksum +
                         ", the validated plan's " + validated_.plan_checksum)},
              base_p, base_s, "refused");
    return out;
  }

  // --- Beam on ------------------------------------------------------------------------------
  m.dose->reset_counts();
  const double preset = planned - base_p;
  const double run_base_p = base_p;
  const double run_base_s = base_s;
  record_.record_mu(fraction, beam.name, {base_p, base_s, run_base_p, run_base_s, t});
  const BeamTrajectory traj = sequence_beam(beam, prof);
  const double beam_time_limit_s = 2.0 * traj.beam_on_s + 30.0;
  const double beam_start_t = t;
  out.start_time_s = t;
  double p = base_p;
  double s = base_s;
  double recorded_p = base_p;
  double recorded_s = base_s;
  double last_record_t = t;
  double beam_on_s = 0.0;
  DoseRateMonitor dose_rate(prof);
  double hold_since = -1.0;
  int clear_cycles = 0;
  // Step-and-shoot: the beam stops at each transition (a zero-MU segment) by its preset, and the
  // axes move to the next segment with the beam off before it comes on again.
  double segment_stop_mu = path.next_transition_mu(p);
  bool in_transition = false;
  double transition_since = 0.0;
  std::vector<InterlockEvent> active;  // causes of the present hold
  bool operator_off_done = false;
  set_state(beam.name, SessionState::kBeamOn, p, s);

  auto record_now = [&]() -> bool {
    try {
      record_.record_mu(fraction, beam.name, {p, s, run_base_p, run_base_s, t});
      recorded_p = p;
      recorded_s = s;
      last_record_t = t;
      return true;
    } catch (const std::exception& e) {
      active.push_back(event("record_write_failed", "record", -1, p, recorded_p, p,
                             std::string("the treatment record cannot be written: ") + e.what()));
      return false;
    }
  };

  // A hold that does not clear, or a move that does not complete: beam off, the axes held at the
  // delivered MU's state, the last sample kept, the beam interrupted (resumable) for `causes`.
  auto end_interrupted = [&](const MachineSetpoint& at, CycleSample last,
                             std::vector<InterlockEvent> causes) {
    beam_off();
    command_axes(at);
    m.write_all(t);
    out.samples.push_back(std::move(last));
    out.beam_on_s = beam_on_s;
    out.delivered_primary_mu = recorded_p;
    out.delivered_secondary_mu = recorded_s;
    try {
      set_state(beam.name, SessionState::kInterrupted, recorded_p, recorded_s);
    } catch (const std::exception&) {
      state_ = SessionState::kInterrupted;
    }
    interrupt(std::move(causes), recorded_p, recorded_s, "interrupted");
  };

  double rate_cmd = 0.0;
  while (true) {
    // Commands for this cycle go out with the previous write; read the new state.
    step();
    const auto& counts = m.dose->counts();
    p = run_base_p + counts.primary_mu;
    s = run_base_s + counts.secondary_mu;
    const MachineSetpoint expected = path.at_mu(p);
    const MachineSetpoint actual = measured(m);
    const bool is_on = m.beam->state().beam_on;
    const double rate = m.beam->state().dose_rate_mu_per_min;
    if (is_on) beam_on_s += cycle_s;

    std::vector<InterlockEvent> now;  // conditions seen this cycle
    for (const auto& f : m.take_faults()) {
      now.push_back(
          event(code_for(f.code), f.device, f.element, f.value, f.limit, p, f.describe()));
    }
    const bool link_down = m.link != nullptr && m.link->lost();
    if (link_down &&
        std::none_of(now.begin(), now.end(), [](const auto& e) { return e.code == "link_lost"; })) {
      now.push_back(event(
          "link_lost", "link", -1, m.link->missed_cycles(), prof.interlocks.heartbeat_loss_cycles,
          p,
          "no reply from the machine for " + std::to_string(m.link->missed_cycles()) + " cycles"));
    }
    const bool fresh = m.link == nullptr || m.link->missed_cycles() == 0;
    const Deviations d = deviations(expected, actual);
    if (state_ == SessionState::kBeamOn && !in_transition && segment_stop_mu < planned - 1e-6 &&
        p >= segment_stop_mu - 1e-6) {
      in_transition = true;  // the beam ended at the segment's preset
      transition_since = t;
      clear_cycles = 0;
      ++out.transitions;
    }
    if (fresh) {
      // While the axes move to the next segment with the beam off, their distance from it is
      // not a deviation; the transition's own timeout below covers an axis that never arrives.
      if (!in_transition) {
        for (auto& e : axis_deviation_events(expected, actual, prof, p, t)) {
          now.push_back(std::move(e));
        }
      }
      for (auto& e :
           dose_channel_events(counts, run_base_p, run_base_s, preset, planned, prof, t)) {
        now.push_back(std::move(e));
      }
      for (auto& e :
           dose_rate.check(state_ == SessionState::kBeamOn && is_on, is_on, rate, rate_cmd, p, t)) {
        now.push_back(std::move(e));
      }
    }
    if (beam_on_s > beam_time_limit_s) {
      now.push_back(event("beam_time_exceeded", "beam", -1, beam_on_s, beam_time_limit_s, p,
                          "beam-on time " + format_measured(beam_on_s, 2) +
                              " s exceeds the limit of " + format_number(beam_time_limit_s) +
                              " s"));
    }
    if (options_.operator_beam_off_at_s && !operator_off_done &&
        beam_on_s >= *options_.operator_beam_off_at_s) {
      operator_off_done = true;
      now.push_back(event("operator_beam_off", "console", -1, p, planned, p,
                          "beam off by the operator at " + format_measured(p) + " MU"));
    }

    // Records first: checkpoint at the period, and before any state change is reported — also
    // when the link has gone quiet: the last counts the machine reported are below what it has
    // delivered, never above, and a resume must not deliver them again (a machine that dies
    // between two checkpoints took up to a period of MU with it; scripts/chaos found it).
    const bool done = counts.primary_mu >= preset - 1e-6 || p >= planned - 1e-6;
    const bool change = done || (!now.empty() && state_ == SessionState::kBeamOn);
    if ((fresh && (change || t - last_record_t >= options_.record_period_s - 1e-9)) ||
        (change && p > recorded_p + 1e-9)) {
      if (!record_now()) now.push_back(active.back());
    }

    // Decide.
    bool terminate = false;
    bool stop = false;
    for (const auto& e : now) {
      if (terminating(e.code)) terminate = true;
      if (!self_clearing(e.code)) stop = true;
    }
    CycleSample sample;
    sample.time_s = t - beam_start_t;
    sample.primary_mu = p;
    sample.secondary_mu = s;
    sample.beam_on = is_on;
    sample.dose_rate_mu_per_min = rate;
    sample.transition = in_transition;
    sample.expected = expected;
    sample.actual = actual;
    sample.actual.control_point = expected.control_point;
    sample.carriage_a_mm = m.mlc->state().carriage_a_mm;
    sample.carriage_b_mm = m.mlc->state().carriage_b_mm;
    sample.couch = m.couch->state();

    if (done && !terminate) {
      beam_off();
      m.write_all(t);
      sample.beam_on = true;  // it was, until the preset ended it within this cycle
      out.samples.push_back(sample);
      out.beam_on_s = beam_on_s;
      out.delivered_primary_mu = recorded_p;
      out.delivered_secondary_mu = recorded_s;
      if (recorded_p >= planned - 1e-6 || counts.primary_mu >= preset - 1e-6) {
        try {
          record_.complete_beam(fraction, beam.name, p, s);
          set_state(beam.name, SessionState::kCompleted, p, s);
          out.status = "completed";
          return out;
        } catch (const std::exception& e) {
          interrupt({event("record_write_failed", "record", -1, p, recorded_p, p, e.what())}, p, s,
                    "interrupted");
          return out;
        }
      }
    }
    if (terminate || stop) {
      beam_off();
      command_axes(expected);
      m.write_all(t);
      sample.hold = true;
      out.samples.push_back(sample);
      out.beam_on_s = beam_on_s;
      // Let the last counts in (the beam stops at this write), then record them.
      step();
      p = run_base_p + m.dose->counts().primary_mu;
      s = run_base_s + m.dose->counts().secondary_mu;
      for (const auto& f : m.take_faults()) {
        if (terminating(code_for(f.code))) terminate = true;
        now.push_back(
            event(code_for(f.code), f.device, f.element, f.value, f.limit, p, f.describe()));
      }
      if (fresh || m.link == nullptr || m.link->missed_cycles() == 0) {
        try {
          record_.record_mu(fraction, beam.name, {p, s, run_base_p, run_base_s, t});
          recorded_p = p;
          recorded_s = s;
        } catch (const std::exception&) {
        }
      }
      out.delivered_primary_mu = recorded_p;
      out.delivered_secondary_mu = recorded_s;
      const SessionState end = terminate ? SessionState::kTerminated : SessionState::kInterrupted;
      try {
        set_state(beam.name, end, recorded_p, recorded_s);
        if (terminate) {
          record_.terminate_beam(fraction, beam.name, recorded_p, recorded_s, now.front().message);
        }
      } catch (const std::exception&) {
        state_ = end;
      }
      std::vector<InterlockEvent> causes = active;
      for (auto& e : now) {
        if (std::none_of(causes.begin(), causes.end(),
                         [&](const auto& c) { return c.code == e.code; })) {
          causes.push_back(e);
        }
      }
      interrupt(std::move(causes), recorded_p, recorded_s,
                terminate ? "terminated" : "interrupted");
      return out;
    }

    if (!now.empty()) {
      // A self-clearing condition: hold (dose off, set-points frozen at the delivered MU).
      if (state_ == SessionState::kBeamOn) {
        ++out.beam_holds;
        hold_since = t;
        active = now;
        for (const auto& e : now) {
          try {
            record_.record_interruption({fraction, beam.name, p, s, e.code, e.device, e.element,
                                         e.value, e.limit, e.time_s, "beam hold: " + e.message});
          } catch (const std::exception&) {
          }
        }
        set_state(beam.name, SessionState::kHold, p, s);
      }
      clear_cycles = 0;
    } else if (state_ == SessionState::kHold || in_transition) {
      // Clear with hysteresis: every axis back within 3/4 of its tolerance for two cycles. A
      // transition ends the same way, at the next segment's start.
      const double worst = std::max({d.leaf_mm / prof.mlc.position_tolerance_mm,
                                     d.jaw_mm / prof.jaws.position_tolerance_mm,
                                     d.gantry_deg / prof.gantry.position_tolerance_deg,
                                     d.collimator_deg / prof.collimator.position_tolerance_deg});
      clear_cycles = worst < 0.75 ? clear_cycles + 1 : 0;
      if (clear_cycles >= 2 && state_ == SessionState::kHold) {
        active.clear();
        clear_cycles = 0;
        set_state(beam.name, SessionState::kBeamOn, p, s);
      } else if (clear_cycles >= 2) {
        in_transition = false;
        segment_stop_mu = path.next_transition_mu(p);
      }
    }
    if (in_transition && state_ == SessionState::kBeamOn &&
        t - transition_since > options_.hold_timeout_s) {
      // An axis that does not reach the next segment: interrupted, as a hold that never clears.
      std::vector<InterlockEvent> causes = axis_deviation_events(expected, actual, prof, p, t);
      if (causes.empty()) {
        causes.push_back(
            event("axes_not_at_position", "mlc", d.leaf, d.leaf_mm, prof.mlc.position_tolerance_mm,
                  p, "worst leaf " + format_measured(d.leaf_mm) + " mm from the next segment"));
      }
      for (auto& c : causes) {
        c.message = "transition to control point " + std::to_string(expected.control_point) +
                    " not completed within " + format_number(options_.hold_timeout_s) +
                    " s: " + c.message;
      }
      sample.hold = true;
      end_interrupted(expected, sample, std::move(causes));
      return out;
    }
    const bool too_many = state_ == SessionState::kHold && out.beam_holds > options_.max_holds;
    if (state_ == SessionState::kHold && (t - hold_since > options_.hold_timeout_s || too_many)) {
      std::vector<InterlockEvent> causes = active.empty() ? now : active;
      for (auto& c : causes) {
        c.message = (too_many ? std::to_string(out.beam_holds) + " beam holds: "
                              : "hold not cleared within " +
                                    format_number(options_.hold_timeout_s) + " s: ") +
                    c.message;
      }
      end_interrupted(expected, sample, std::move(causes));
      return out;
    }

    // Commands.
    if (state_ == SessionState::kBeamOn && !in_transition) {
      // Dose rate: the segment's planned rate, lowered while the gantry lags (the dose servo
      // waits for the gantry rather than letting it fall out of tolerance). Leaves are not
      // waited for: a leaf that cannot follow is a fault, and holds the beam.
      const auto seg = static_cast<std::size_t>(
          std::clamp(expected.control_point, 0, static_cast<int>(traj.segments.size()) - 1));
      double planned_rate = traj.segments.empty() ? prof.dose.max_dose_rate_mu_per_min
                                                  : traj.segments[seg].dose_rate_mu_per_min;
      if (planned_rate <= 0.0) planned_rate = prof.dose.max_dose_rate_mu_per_min;
      const double lag = d.gantry_deg / prof.gantry.position_tolerance_deg;
      double scale = std::clamp((0.9 - lag) / 0.4, 0.1, 1.0);
      // While the gantry accelerates (beam on, after a hold), the MU wait for it: the dose
      // rate follows the speed the gantry has plus what it gains in a few cycles.
      const double planned_speed =
          traj.segments.empty() ? 0.0 : std::abs(traj.segments[seg].gantry_speed_deg_per_s);
      if (planned_speed > 0.1) {
        const double reachable = std::abs(m.gantry->state().speed_deg_per_s) +
                                 prof.gantry.max_acceleration_deg_per_s2 * 5.0 * cycle_s;
        scale = std::min(scale, std::clamp(reachable / planned_speed, 0.1, 1.0));
      }
      rate_cmd = std::min(planned_rate * scale, prof.dose.max_dose_rate_mu_per_min);
      // Each axis's set-point leads the delivered MU by its servo lag plus the cycle, up to the
      // segment's end: nothing moves towards the next segment before the beam has stopped.
      const double mu_per_s = rate_cmd / 60.0;
      auto lead = [&](double servo_s) {
        return path.approaching_mu(
            std::min(p + mu_per_s * (servo_s + options_.lead_s), segment_stop_mu));
      };
      const MachineSetpoint mlc_sp = lead(prof.mlc.servo_time_constant_s);
      const MachineSetpoint gantry_sp = lead(prof.gantry.servo_time_constant_s);
      const MachineSetpoint coll_sp = lead(prof.collimator.servo_time_constant_s);
      m.gantry->command({gantry_sp.gantry_deg, 0.0});
      m.collimator->command({coll_sp.collimator_deg, 0.0});
      m.jaws->command({mlc_sp.jaw_x1_mm, mlc_sp.jaw_x2_mm, mlc_sp.jaw_y1_mm, mlc_sp.jaw_y2_mm});
      m.mlc->command({mlc_sp.leaf_a_mm, mlc_sp.leaf_b_mm});
      m.beam->command(
          {true, rate_cmd, beam.nominal_energy_mv, std::min(preset, segment_stop_mu - run_base_p)});
    } else {
      rate_cmd = 0.0;
      beam_off();
      command_axes(expected);
    }
    dose_rate.commanded(rate_cmd);
    sample.hold = state_ == SessionState::kHold;
    out.samples.push_back(std::move(sample));
    m.write_all(t);
  }
}

}  // namespace linac::delivery
