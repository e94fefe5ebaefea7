#pragma once
// The simulator daemon: a simulated Clinac iX served over ZeroMQ (REP socket, CurveZMQ server)
// to authenticated controllers only. See docs/protocol.md.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "linac/core/machine_profile.hpp"
#include "linac/hal/curve_keys.hpp"
#include "linac/simulators/sim_machine.hpp"

namespace linac::sim {

struct DaemonOptions {
  std::string bind_endpoint;  // tcp://127.0.0.1:5555, or tcp://127.0.0.1:* for any
  hal::CurveKeyPair server_keys;
  std::vector<std::string> authorized_client_keys;  // Z85 public keys
  MachineProfile profile;
  std::vector<InjectedFault> faults;
  std::uint64_t seed = 1;
  std::shared_ptr<const Volume<float>> imaging_subject;  // attenuation for the kV imager
  iec::PatientPosition patient_position = iec::PatientPosition::kHFS;
};

/// Serves until `stop` becomes true. Calls `on_ready(endpoint)` once bound (the actual endpoint
/// when a wildcard port was asked for). Logs one line per event (refused client, refused request,
/// link silence) to `log`. Returns 0, or throws std::runtime_error when it cannot bind.
int run_daemon(const DaemonOptions& options, const std::atomic<bool>& stop,
               const std::function<void(const std::string&)>& on_ready, std::ostream& log);

}  // namespace linac::sim
