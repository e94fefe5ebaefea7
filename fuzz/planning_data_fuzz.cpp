// libFuzzer target: arbitrary bytes as the planning data files a site edits — a plan template
// (then applied to a case's structures) and a beam data file. Each must be read or refused with
// InputError; anything else is a finding. Seed corpus: data/templates and machines/.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "linac/core/error.hpp"
#include "linac/planning/beam_data.hpp"
#include "linac/planning/plan_template.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("linac_planning_fuzz_" + std::to_string(::getpid()) + ".json");
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto t = linac::planning::read_plan_template(path);
    linac::planning::VmatOptions o;
    linac::planning::apply_plan_template(t, {"PTV", "liver", "FLS", "core", "body"}, o);
  } catch (const linac::InputError&) {
  }
  try {
    (void)linac::planning::read_beam_data(path);
  } catch (const linac::InputError&) {
  }
  return 0;
}
