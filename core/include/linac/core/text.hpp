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

/// A measured value for people: `digits` decimals, trailing zeros dropped ("2.03", "0.5").
inline std::string format_measured(double v, int digits = 3) {
  char buf[64];
  const auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed, digits);
  if (ec != std::errc()) return "?";
  std::string s(buf, ptr);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  return s == "-0" ? "0" : s;
}

}  // namespace linac
