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
  for (std::size_t i = 0; i + 1 < cps.size(); ++i) {
    if (cps[i + 1].cumulative_meterset_weight - cps[i].cumulative_meterset_weight > 1e-9) continue;
    const MachineSetpoint a = state(i, 0.0);
    const MachineSetpoint b = state(i + 1, 0.0);
    bool moves =
        std::abs(a.gantry_deg - b.gantry_deg) > 1e-6 ||
        std::abs(a.collimator_deg - b.collimator_deg) > 1e-6 ||
        std::abs(a.jaw_x1_mm - b.jaw_x1_mm) > 1e-6 || std::abs(a.jaw_x2_mm - b.jaw_x2_mm) > 1e-6 ||
        std::abs(a.jaw_y1_mm - b.jaw_y1_mm) > 1e-6 || std::abs(a.jaw_y2_mm - b.jaw_y2_mm) > 1e-6;
    for (std::size_t l = 0; !moves && l < a.leaf_a_mm.size() && l < b.leaf_a_mm.size(); ++l) {
      moves = std::abs(a.leaf_a_mm[l] - b.leaf_a_mm[l]) > 1e-6;
    }
    for (std::size_t l = 0; !moves && l < a.leaf_b_mm.size() && l < b.leaf_b_mm.size(); ++l) {
      moves = std::abs(a.leaf_b_mm[l] - b.leaf_b_mm[l]) > 1e-6;
    }
    const double mu = weight_[i] * beam_mu_;
    if (moves && (transition_mu_.empty() || mu > transition_mu_.back() + 1e-6)) {
      transition_mu_.push_back(mu);
    }
  }
}

double BeamPath::next_transition_mu(double mu) const {
  const auto it = std::upper_bound(transition_mu_.begin(), transition_mu_.end(), mu + 1e-6);
  return it == transition_mu_.end() ? beam_mu_ : *it;
}

MachineSetpoint BeamPath::approaching_mu(double mu) const {
  const auto& cps = beam_.control_points;
  if (cps.empty()) return {};
  const double f = std::clamp(beam_mu_ > 0.0 ? mu / beam_mu_ : 1.0, 0.0, 1.0);
  // j: first control point with a weight at or above f; the state between j - 1 and j.
  const auto j = static_cast<std::size_t>(std::lower_bound(weight_.begin(), weight_.end(), f) -
                                          weight_.begin());
  if (j == 0) return state(0, 0.0);
  if (j >= cps.size()) return state(cps.size() - 1, 0.0);
  const double dw = weight_[j] - weight_[j - 1];
  return state(j - 1, dw > 0.0 ? (f - weight_[j - 1]) / dw : 1.0);
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
  return state(i, u);
}

MachineSetpoint BeamPath::state(std::size_t i, double u) const {
  MachineSetpoint s;
  const auto& cps = beam_.control_points;
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
