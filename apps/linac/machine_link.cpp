#include "machine_link.hpp"

#include "linac/core/error.hpp"

namespace linac::cli {

MachineConnection connect_machine(bool use_sim, std::uint64_t seed, const std::string& daemon,
                                  const std::string& server_key, const std::string& client_key) {
  if (use_sim == !daemon.empty())
    throw InputError("machine", "give exactly one of --sim, --daemon");
  MachineConnection c;
  if (use_sim) {
    c.simulated = std::make_unique<sim::SimulatedMachine>(seed);
    c.machine = &c.simulated->machine();
    return c;
  }
  if (server_key.empty() || client_key.empty()) {
    throw InputError("--daemon", "needs --server-key (the daemon's .pub) and --client-key");
  }
  hal::RemoteMachineOptions ro;
  ro.endpoint = daemon;
  ro.server_public_key = hal::read_curve_public_key(server_key);
  ro.client_keys = hal::read_curve_keypair(client_key);
  c.remote = std::make_unique<hal::RemoteMachine>(ro);
  if (!c.remote->connect(3.0)) {
    throw InputError(daemon,
                     "no answer from the machine within 3 s (is the daemon running, "
                     "and are the keys the ones it expects?)");
  }
  c.machine = &c.remote->machine();
  return c;
}

}  // namespace linac::cli
