#pragma once
// The HAL over the machine link: every device interface implemented by a ZeroMQ client of the
// simulator daemon (or, one day, of a driver process), so code above the HAL cannot tell it from
// the in-process simulator. One round trip per control cycle: read(t) sends the commands latched
// by the previous write() with the virtual time t, and takes back the state and the device
// faults. The link authenticates with CurveZMQ. A reply that does not come within the cycle is a
// missed heartbeat; after the profile's heartbeat_loss_cycles misses in a row the link reports a
// link_lost fault, and it resumes by itself when replies come back.
#include <memory>
#include <string>

#include "linac/hal/curve_keys.hpp"
#include "linac/hal/machine.hpp"

namespace linac::hal {

struct RemoteMachineOptions {
  std::string endpoint;           // e.g. tcp://127.0.0.1:5555
  std::string server_public_key;  // Z85
  CurveKeyPair client_keys;
  double reply_timeout_s = 0.0;  // 0: the profile's control cycle
};

class RemoteMachine {
 public:
  explicit RemoteMachine(const RemoteMachineOptions& options);
  ~RemoteMachine();
  RemoteMachine(const RemoteMachine&) = delete;
  RemoteMachine& operator=(const RemoteMachine&) = delete;

  /// Opens a controller session (hello): the machine starts this client's sequence numbers
  /// afresh and the virtual clock takes over the machine's time. Needed when the machine has
  /// served another controller before (e.g. one that crashed). False when no accepted reply
  /// came within `timeout_s`.
  bool connect(double timeout_s);
  /// The HAL view (devices and a virtual clock that the controller advances).
  Machine& machine();
  VirtualClock& clock();
  /// Consecutive cycles without a reply; 0 while the link is healthy.
  [[nodiscard]] int missed_cycles() const;
  [[nodiscard]] bool link_lost() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace linac::hal
