// libFuzzer target: arbitrary bytes as a plastimatch projection set of one image — the first
// byte splits the rest into the .txt geometry and the .pfm image — read as `linac igrt recon`
// reads it (formats::read_plastimatch_projections) and turned into the kV imager's geometry
// (igrt::circular_projections). Each must read it or refuse it with InputError; anything else
// is a finding. Seed corpus: plastimatch drr output (scripts/fuzz makes it).
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "linac/core/error.hpp"
#include "linac/formats/projection_files.hpp"
#include "linac/igrt/projection_geometry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                           ("linac_projection_fuzz_" + std::to_string(::getpid()));
  if (size < 1) return 0;
  std::filesystem::create_directories(dir);
  const std::size_t split = std::min<std::size_t>(size - 1, static_cast<std::size_t>(data[0]) * 4);
  {
    std::ofstream t(dir / "p.txt", std::ios::binary | std::ios::trunc);
    t.write(reinterpret_cast<const char*>(data + 1), static_cast<std::streamsize>(split));
    std::ofstream i(dir / "p.pfm", std::ios::binary | std::ios::trunc);
    i.write(reinterpret_cast<const char*>(data + 1 + split),
            static_cast<std::streamsize>(size - 1 - split));
  }
  try {
    const auto files = linac::formats::read_plastimatch_projections(dir);
    (void)linac::igrt::circular_projections(files, linac::iec::PatientPosition::kHFS);
  } catch (const linac::InputError&) {
  }
  return 0;
}
