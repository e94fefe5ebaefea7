#pragma once
// The simulator daemon's message handling, independent of the transport: one serialized
// Request in, one serialized Response out. Refuses oversized, malformed, replayed and
// time-reversing requests as a whole; hostile values inside a command reach the devices, which
// refuse them with faults. Never throws on any input.
#include <cstdint>
#include <string>
#include <string_view>

#include "linac/simulators/sim_machine.hpp"

namespace linac::sim {

inline constexpr std::size_t kMaxRequestBytes = 64 * 1024;

class MachineService {
 public:
  /// `machine` must be brought up (configured and active).
  explicit MachineService(SimulatedMachine& machine);

  std::string handle(std::string_view request_bytes);

  /// The controller has been silent for `silent_s` (real time), past the heartbeat limit
  /// `limit_s`: the machine ends any beam (fail safe) and the next response reports link_lost.
  void on_controller_silent(double silent_s, double limit_s);

  [[nodiscard]] std::uint64_t refused() const { return refused_; }
  [[nodiscard]] std::uint64_t served() const { return served_; }

 private:
  SimulatedMachine& sim_;
  std::uint64_t last_sequence_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t served_ = 0;
  std::vector<hal::Fault> pending_faults_;
};

}  // namespace linac::sim
