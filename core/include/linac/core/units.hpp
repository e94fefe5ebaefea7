#pragma once
// Unit conversions. Quantities carry their unit in their name (gantry_deg, spacing_mm, ...).
#include <numbers>

namespace linac::units {

inline constexpr double kMm3PerCm3 = 1000.0;
inline constexpr double kMmPerCm = 10.0;

constexpr double deg_to_rad(double deg) {
  return deg * std::numbers::pi / 180.0;
}
constexpr double rad_to_deg(double rad) {
  return rad * 180.0 / std::numbers::pi;
}
constexpr double mm3_to_cm3(double mm3) {
  return mm3 / kMm3PerCm3;
}

}  // namespace linac::units
