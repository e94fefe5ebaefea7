#pragma once
// Faults as values: what a device reports instead of throwing. Each has a code, the device (and
// element, e.g. a leaf), the value seen, the limit broken and the time.
#include <optional>
#include <string>

namespace linac::hal {

enum class FaultCode {
  kCommandInvalid,      // NaN, infinite or malformed command
  kCommandOutOfRange,   // a command beyond the profile's limits
  kCommandCollision,    // opposing leaves commanded closer than the minimum gap
  kFollowingError,      // actual position far from the commanded one (device-side detection)
  kOverspeed,           // axis faster than its maximum speed
  kStall,               // axis does not move although commanded
  kDoseChannelStopped,  // a monitor chamber stopped counting
  kDoseChannelsDisagree,
  kDoseRateDropout,
  kDoseRateExcess,
  kSecondaryTermination,  // the secondary channel ended the beam (overdose backstop)
  kLinkLost,
  kNotActive,  // command to a device that is not active
};

std::string to_string(FaultCode code);
/// The code whose to_string is `name`, or nothing.
std::optional<FaultCode> parse_fault_code(const std::string& name);

struct Fault {
  FaultCode code = FaultCode::kCommandInvalid;
  std::string device;  // "mlc", "gantry", ...
  int element = -1;    // leaf index (bank A 0..59, bank B 60..119), axis index, or -1
  double value = 0.0;
  double limit = 0.0;
  double time_s = 0.0;
  std::string message;  // human-readable, names all of the above

  [[nodiscard]] std::string describe() const;
};

}  // namespace linac::hal
