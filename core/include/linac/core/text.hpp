#pragma once
// Numbers in messages and text files: the shortest text that reads back as the same double
// ("210", "0.1", "nan", "inf"), so error messages and headers show values exactly.
#include <charconv>
#include <string>

namespace linac {

inline std::string format_number(double v) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, ptr) : std::string("?");
}

}  // namespace linac
