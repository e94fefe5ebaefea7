// libFuzzer target: arbitrary bytes as a plan file, both as JSON and as binary Protobuf.
// Reading must either give a plan that passes the structural check or throw InputError.
#include <cstdlib>
#include <string>

#include "linac/core/error.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/plan.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    const auto plan = linac::plan_from_json(bytes, "fuzz.json");
    linac::check_plan_structure(plan, "fuzz.json");
  } catch (const linac::InputError&) {
  }
  linac::pb::Plan msg;
  if (msg.ParseFromString(bytes)) {
    try {
      (void)linac::plan_from_proto(msg, "fuzz.pb");
    } catch (const linac::InputError&) {
    }
  }
  return 0;
}
