#pragma once
// A Machine bundles the devices and a clock. Whoever builds it (a simulator, the ZeroMQ client,
// a driver) owns the devices; code above the HAL sees only these interfaces.
#include <optional>
#include <vector>

#include "linac/hal/clock.hpp"
#include "linac/hal/devices.hpp"

namespace linac::hal {

/// The state of the link to a remote machine: cycles without a reply, and whether that count
/// has reached the heartbeat-loss limit.
class LinkMonitor {
 public:
  virtual ~LinkMonitor() = default;
  [[nodiscard]] virtual int missed_cycles() const = 0;
  [[nodiscard]] virtual bool lost() const = 0;
};

struct Machine {
  Clock* clock = nullptr;
  const LinkMonitor* link = nullptr;  // null for in-process devices (no link to lose)
  Mlc* mlc = nullptr;
  Jaws* jaws = nullptr;
  RotationAxis* gantry = nullptr;
  RotationAxis* collimator = nullptr;
  Couch* couch = nullptr;
  BeamControl* beam = nullptr;
  DoseMonitor* dose = nullptr;
  KvImager* imager = nullptr;

  [[nodiscard]] std::vector<Device*> devices() const;
  /// Configures then activates every device; the first fault stops it and is returned.
  std::optional<Fault> bring_up(const MachineProfile& profile);
  void shut_down();
  void read_all(double t_s);
  void write_all(double t_s);
  std::vector<Fault> take_faults();
};

}  // namespace linac::hal
