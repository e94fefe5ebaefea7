#include <algorithm>
#include <sstream>
#include <thread>

#include "linac/hal/clock.hpp"
#include "linac/hal/fault.hpp"
#include "linac/hal/machine.hpp"

namespace linac::hal {

std::string to_string(FaultCode code) {
  switch (code) {
    case FaultCode::kCommandInvalid:
      return "command_invalid";
    case FaultCode::kCommandOutOfRange:
      return "command_out_of_range";
    case FaultCode::kCommandCollision:
      return "command_collision";
    case FaultCode::kFollowingError:
      return "following_error";
    case FaultCode::kOverspeed:
      return "overspeed";
    case FaultCode::kStall:
      return "stall";
    case FaultCode::kDoseChannelStopped:
      return "dose_channel_stopped";
    case FaultCode::kDoseChannelsDisagree:
      return "dose_channels_disagree";
    case FaultCode::kDoseRateDropout:
      return "dose_rate_dropout";
    case FaultCode::kDoseRateExcess:
      return "dose_rate_excess";
    case FaultCode::kSecondaryTermination:
      return "secondary_termination";
    case FaultCode::kLinkLost:
      return "link_lost";
    case FaultCode::kNotActive:
      return "not_active";
  }
  return "unknown";
}

std::optional<FaultCode> parse_fault_code(const std::string& name) {
  for (int c = 0; c <= static_cast<int>(FaultCode::kNotActive); ++c) {
    if (to_string(static_cast<FaultCode>(c)) == name) return static_cast<FaultCode>(c);
  }
  return std::nullopt;
}

std::string Fault::describe() const {
  std::ostringstream os;
  os << "t=" << time_s << " s " << device;
  if (element >= 0) os << "[" << element << "]";
  os << ": " << to_string(code) << " (value " << value << ", limit " << limit << ")";
  if (!message.empty()) os << ": " << message;
  return os.str();
}

RealTimeClock::RealTimeClock() : start_(std::chrono::steady_clock::now()) {}

double RealTimeClock::now_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void RealTimeClock::advance_to(double t_s) {
  const auto until = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(t_s));
  std::this_thread::sleep_until(until);
}

std::vector<Device*> Machine::devices() const {
  std::vector<Device*> out;
  for (Device* d :
       std::initializer_list<Device*>{mlc, jaws, gantry, collimator, couch, beam, dose, imager}) {
    // One object may implement several interfaces (beam control and dose monitor).
    if (d != nullptr && std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

std::optional<Fault> Machine::bring_up(const MachineProfile& profile) {
  for (Device* d : devices()) {
    if (auto f = d->configure(profile)) return f;
  }
  for (Device* d : devices()) {
    if (auto f = d->activate()) return f;
  }
  return std::nullopt;
}

void Machine::shut_down() {
  for (Device* d : devices()) d->deactivate();
}

void Machine::read_all(double t_s) {
  for (Device* d : devices()) d->read(t_s);
}

void Machine::write_all(double t_s) {
  for (Device* d : devices()) d->write(t_s);
}

std::vector<Fault> Machine::take_faults() {
  std::vector<Fault> out;
  for (Device* d : devices()) {
    auto f = d->take_faults();
    out.insert(out.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
  }
  return out;
}

}  // namespace linac::hal
