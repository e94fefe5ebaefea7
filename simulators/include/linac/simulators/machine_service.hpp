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
/// Faults the machine keeps for a controller that has not acknowledged them (each response
/// carries them all). Beyond this the oldest are dropped, the machine ends any beam (fail safe:
/// a controller that does not acknowledge cannot be trusted to have seen them) and the response
/// says so with a link_lost fault. A conforming controller acknowledges every reply.
inline constexpr std::size_t kMaxUnacknowledgedFaults = 128;

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
  /// Faults dropped unacknowledged past kMaxUnacknowledgedFaults, since start.
  [[nodiscard]] std::uint64_t dropped_faults() const { return dropped_faults_; }
  /// Faults held for the controller now (pending and unacknowledged).
  [[nodiscard]] std::size_t held_faults() const;
  /// kV projections held unacknowledged: at most one (a response carries the newest only).
  [[nodiscard]] std::size_t held_projections() const;

 private:
  SimulatedMachine& sim_;
  std::uint64_t session_ = 0;
  std::uint64_t last_sequence_ = 0;
  std::uint64_t last_action_id_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t served_ = 0;
  std::uint64_t dropped_faults_ = 0;
  /// Drops the oldest held faults beyond the limit; ends the beam and adds a link_lost fault
  /// to the newest entry when it does.
  void bound_held_faults();
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
