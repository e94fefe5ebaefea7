// libFuzzer target: arbitrary bytes as one Varian OBI .hnd projection, decoded as `linac igrt
// recon` decodes it (formats::decode_varian_hnd). It must decode it or refuse it with
// InputError; anything else (a read past the buffer, a crash, a hang) is a finding. Seed corpus:
// a .hnd written by tests/data/make_hnd.py (scripts/fuzz makes it).
#include <cstdint>
#include <span>

#include "linac/core/error.hpp"
#include "linac/formats/projection_files.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto h = linac::formats::decode_varian_hnd("fuzz.hnd", std::span(data, size));
    if (h.counts.size() != static_cast<std::size_t>(h.columns) * static_cast<std::size_t>(h.rows)) {
      __builtin_trap();
    }
  } catch (const linac::InputError&) {
  }
  return 0;
}
