// libFuzzer target: arbitrary bytes as a trajectory log (.bin) and as a Dynalog pair (the same
// bytes in the A file, a valid B file beside it). Reading must give a log or throw InputError,
// and analysing what was read must not crash.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/delivery/log_qa.hpp"
#include "linac/delivery/machine_log.hpp"

namespace {

const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("linac-log-fuzz-" + std::to_string(getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

void write(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

void analyse(const linac::delivery::MachineLog& log) {
  static const auto bounds = linac::default_machine_profile().mlc.leaf_boundaries_mm;
  if (log.leaf_pairs == 60 && log.snapshots.size() < 2000) {
    (void)linac::delivery::analyse_log(log, bounds, {3.0, 2.0, 10.0}, 4.0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const auto bin = scratch() / "t.bin";
  write(bin, bytes);
  try {
    analyse(linac::delivery::read_trajectory_log(bin));
  } catch (const linac::InputError&) {
  }
  const auto a = scratch() / "AP_1.dlg";
  const auto b = scratch() / "BP_1.dlg";
  write(a, bytes);
  write(b, bytes);
  try {
    analyse(linac::delivery::read_dynalog(a));
  } catch (const linac::InputError&) {
  }
  return 0;
}
