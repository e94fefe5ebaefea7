#include "linac/delivery/session.hpp"

#include <exception>
#include <utility>

#include "beam_run.hpp"
#include "linac/core/error.hpp"
#include "linac/delivery/mlc_controller.hpp"

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
      o = BeamRun(*this, beam).run();
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

}  // namespace linac::delivery
