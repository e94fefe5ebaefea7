// libFuzzer target: arbitrary bytes as a request to the simulator daemon's message handling.
// Every input must give a parseable Response and no crash, leak or undefined behaviour.
#include <cstdlib>
#include <string_view>

#include "linac/machine.pb.h"
#include "linac/simulators/machine_service.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static linac::sim::SimulatedMachine* sim = [] {
    auto* s = new linac::sim::SimulatedMachine(1);
    if (s->machine().bring_up(linac::default_machine_profile())) std::abort();
    return s;
  }();
  static linac::sim::MachineService service(*sim);
  const std::string reply =
      service.handle(std::string_view(reinterpret_cast<const char*>(data), size));
  linac::pb::Response r;
  if (!r.ParseFromString(reply)) std::abort();
  return 0;
}
