// libFuzzer target: arbitrary bytes as a MetaImage file. Reading must either succeed or throw
// InputError; never crash.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "linac/core/error.hpp"
#include "linac/formats/metaimage.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                            ("linac-fuzz-" + std::to_string(::getpid()) + ".mha");
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto v = linac::read_metaimage<std::int16_t>(path);
    if (v.size() != v.grid().voxel_count()) std::abort();
  } catch (const linac::InputError&) {
  }
  return 0;
}
