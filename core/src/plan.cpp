#include "linac/core/plan.hpp"

namespace linac {

std::string to_string(RotationDirection d) {
  switch (d) {
    case RotationDirection::kNone:
      return "NONE";
    case RotationDirection::kClockwise:
      return "CW";
    case RotationDirection::kCounterClockwise:
      return "CC";
  }
  return "?";
}

std::string to_string(BeamType t) {
  switch (t) {
    case BeamType::kStatic:
      return "STATIC";
    case BeamType::kDynamic:
      return "DYNAMIC";
    case BeamType::kArc:
      return "ARC";
  }
  return "?";
}

double Plan::total_mu() const {
  double mu = 0.0;
  for (const auto& b : beams) mu += b.meterset_mu;
  return mu;
}

}  // namespace linac
