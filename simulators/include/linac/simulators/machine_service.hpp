#pragma once
// The simulator daemon's message handling, independent of the transport: one serialized
// Request in, one serialized Response out. Refuses oversized, malformed, replayed and
// time-reversing requests as a whole; hostile values inside a command reach the devices, which
// refuse them with faults. Never throws on any input.
#include <cstdint>
#include <deque>
#include <memory>
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

  /// Schedules a link loss: from virtual time `onset_s`, requests go unanswered for
  /// `duration_s` seconds of real time.
  void inject_link_loss(double onset_s, double duration_s);
  /// True while an injected link loss holds (the daemon then drops requests unanswered).
  bool link_down(double real_now_s);

  /// The controller has been silent for `silent_s` (real time), past the heartbeat limit
  /// `limit_s`: the machine ends any beam (fail safe) and the next response reports link_lost.
  void on_controller_silent(double silent_s, double limit_s);

  [[nodiscard]] std::uint64_t refused() const { return refused_; }
  [[nodiscard]] std::uint64_t served() const { return served_; }

 private:
  SimulatedMachine& sim_;
  std::uint64_t session_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::uint64_t last_action_id_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t served_ = 0;
  std::vector<hal::Fault> pending_faults_;
  // What accepted responses carried and the client has not acknowledged yet.
  struct Unacked {
    std::uint64_t sequence;
    std::vector<hal::Fault> faults;
    std::shared_ptr<const hal::KvProjection> projection;
  };
  std::deque<Unacked> unacked_;
  struct LinkLoss {
    double onset_s;
    double duration_s;
    double started_real_s;  // < 0 until it starts
  };
  std::vector<LinkLoss> link_losses_;
};

}  // namespace linac::sim
