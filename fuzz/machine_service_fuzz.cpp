// libFuzzer target: arbitrary bytes as a request to the simulator daemon's message handling.
// Every input must give a parseable Response and no crash, leak or undefined behaviour. One
// service serves every input, as a daemon serves a hostile client for its lifetime: its state
// must stay bounded, so the target prints the heap in use (the allocator's live bytes, not the
// process's RSS, which ASan's quarantine and caches inflate) every 2^20 inputs.
#include <sanitizer/allocator_interface.h>

#include <cstdint>
#include <cstdio>
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
  static std::uint64_t inputs = 0;
  if ((++inputs & ((1U << 20) - 1)) == 0) {
    std::fprintf(stderr, "heap in use after %llu inputs: %.1f MB\n",
                 static_cast<unsigned long long>(inputs),
                 static_cast<double>(__sanitizer_get_current_allocated_bytes()) / 1e6);
  }
  return 0;
}
