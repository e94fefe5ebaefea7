#pragma once
// Checks of device commands against the machine profile, shared by every implementation of the
// HAL (simulated devices, the ZeroMQ client, drivers) so that a bad command is refused the same
// way everywhere. Each returns the first problem as a fault (time left at 0), or nothing.
#include <optional>
#include <string>

#include "linac/core/machine_profile.hpp"
#include "linac/hal/devices.hpp"

namespace linac::hal {

std::optional<Fault> check_mlc_command(const MachineProfile& profile, const MlcCommand& cmd);
std::optional<Fault> check_jaw_command(const MachineProfile& profile, const JawCommand& cmd);
std::optional<Fault> check_axis_command(const AxisProfile& axis, const std::string& device,
                                        const AxisCommand& cmd);
std::optional<Fault> check_couch_command(const MachineProfile& profile, const CouchPose& cmd);
std::optional<Fault> check_beam_command(const MachineProfile& profile, const BeamCommand& cmd);
std::optional<Fault> check_kv_request(const MachineProfile& profile, const KvRequest& req);

}  // namespace linac::hal
