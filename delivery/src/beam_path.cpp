#include "linac/delivery/beam_path.hpp"

#include <algorithm>
#include <cmath>

#include "linac/delivery/trajectory.hpp"

namespace linac::delivery {

double machine_angle_deg(double iec_deg) {
  double a = std::fmod(iec_deg, 360.0);
  if (a < 0.0) a += 360.0;
  return a > 180.0 ? a - 360.0 : a;
}

double iec_angle_deg(double machine_deg) {
  double a = std::fmod(machine_deg, 360.0);
  if (a < 0.0) a += 360.0;
  return a;
}

BeamPath::BeamPath(const Beam& beam) : beam_(beam), beam_mu_(beam.meterset_mu) {
  const auto& cps = beam_.control_points;
  weight_.reserve(cps.size());
  for (const auto& cp : cps) weight_.push_back(cp.cumulative_meterset_weight);
  if (cps.empty()) return;
  double g = machine_angle_deg(cps[0].gantry_deg);
  // A clockwise arc starting at 180 deg starts at -180 on the machine (it travels through -179).
  if (g == 180.0 && cps[0].gantry_direction == RotationDirection::kClockwise) g = -180.0;
  gantry_deg_.push_back(g);
  for (std::size_t i = 0; i + 1 < cps.size(); ++i) {
    g += gantry_travel_deg(cps[i].gantry_deg, cps[i + 1].gantry_deg, cps[i].gantry_direction);
    gantry_deg_.push_back(g);
  }
}

MachineSetpoint BeamPath::at_mu(double mu) const {
  return at_fraction(beam_mu_ > 0.0 ? mu / beam_mu_ : 1.0);
}

MachineSetpoint BeamPath::at_fraction(double f) const {
  MachineSetpoint s;
  const auto& cps = beam_.control_points;
  if (cps.empty()) return s;
  f = std::clamp(f, 0.0, 1.0);
  // j: first control point with a weight above f; i = j - 1 is the last at or below it.
  const auto j = static_cast<std::size_t>(std::upper_bound(weight_.begin(), weight_.end(), f) -
                                          weight_.begin());
  std::size_t i = 0;
  double u = 0.0;
  if (j == 0) {
    i = 0;
  } else if (j >= cps.size()) {
    i = cps.size() - 1;
  } else {
    i = j - 1;
    const double dw = weight_[j] - weight_[i];
    u = dw > 0.0 ? (f - weight_[i]) / dw : 0.0;
  }
  const std::size_t k = std::min(i + 1, cps.size() - 1);
  const ControlPoint& a = cps[i];
  const ControlPoint& b = cps[k];
  auto lerp = [u](double x, double y) { return x + u * (y - x); };
  s.control_point = static_cast<int>(i);
  s.gantry_deg = lerp(gantry_deg_[i], gantry_deg_[k]);
  s.collimator_deg = lerp(machine_angle_deg(a.collimator_deg), machine_angle_deg(b.collimator_deg));
  s.jaw_x1_mm = lerp(a.jaw_x1_mm, b.jaw_x1_mm);
  s.jaw_x2_mm = lerp(a.jaw_x2_mm, b.jaw_x2_mm);
  s.jaw_y1_mm = lerp(a.jaw_y1_mm, b.jaw_y1_mm);
  s.jaw_y2_mm = lerp(a.jaw_y2_mm, b.jaw_y2_mm);
  s.leaf_a_mm.resize(a.leaf_a_mm.size());
  s.leaf_b_mm.resize(a.leaf_b_mm.size());
  for (std::size_t l = 0; l < a.leaf_a_mm.size(); ++l) {
    s.leaf_a_mm[l] = lerp(a.leaf_a_mm[l], l < b.leaf_a_mm.size() ? b.leaf_a_mm[l] : a.leaf_a_mm[l]);
  }
  for (std::size_t l = 0; l < a.leaf_b_mm.size(); ++l) {
    s.leaf_b_mm[l] = lerp(a.leaf_b_mm[l], l < b.leaf_b_mm.size() ? b.leaf_b_mm[l] : a.leaf_b_mm[l]);
  }
  return s;
}

}  // namespace linac::delivery
