#pragma once
// The machine a delivering command drives (`linac deliver`, `linac replay`): the in-process
// simulated Clinac (--sim) or a machine daemon over the authenticated machine link (--daemon).
#include <cstdint>
#include <memory>
#include <string>

#include "linac/hal/remote_machine.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::cli {

struct MachineConnection {
  std::unique_ptr<sim::SimulatedMachine> simulated;  // --sim
  std::unique_ptr<hal::RemoteMachine> remote;        // --daemon
  hal::Machine* machine = nullptr;
};

/// Exactly one of `use_sim` and a daemon endpoint (with the daemon's public key and this
/// controller's key pair). Throws InputError naming the option for a bad combination, or the
/// endpoint when the daemon does not answer within 3 s.
MachineConnection connect_machine(bool use_sim, std::uint64_t seed, const std::string& daemon,
                                  const std::string& server_key, const std::string& client_key);

}  // namespace linac::cli
