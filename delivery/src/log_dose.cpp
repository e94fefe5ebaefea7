#include "linac/delivery/log_dose.hpp"

#include <algorithm>
#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/iec61217.hpp"

namespace linac::delivery {

namespace {

double angle_between_deg(double a, double b) {
  double d = std::fmod(std::abs(a - b), 360.0);
  return d > 180.0 ? 360.0 - d : d;
}

}  // namespace

Beam beam_from_log(const MachineLog& log, double gantry_step_deg, double beam_mu) {
  const std::string where = log.files.empty() ? "log" : log.files.front().string();
  if (!(gantry_step_deg > 0.0)) throw InputError(where, "gantry step must be > 0");
  std::vector<const LogSnapshot*> on;
  for (const auto& s : log.snapshots) {
    if (s.beam_on) on.push_back(&s);
  }
  if (on.size() < 2) throw InputError(where, "fewer than two beam-on snapshots");
  auto mu_of = [&](const LogSnapshot& s) {
    if (log.beam_mu > 0.0) return s.mu_actual;
    return s.dose_fraction * beam_mu;
  };
  const double total = mu_of(*on.back());
  if (!(total > 0.0)) throw InputError(where, "the log carries no delivered MU");
  Beam beam;
  beam.name = log.beam_name;
  beam.type = BeamType::kArc;
  beam.meterset_mu = total;
  auto add = [&](const LogSnapshot& s) {
    ControlPoint cp;
    cp.gantry_deg = iec::normalize_angle_deg(s.gantry_actual_deg);
    cp.collimator_deg = iec::normalize_angle_deg(s.collimator_actual_deg);
    cp.cumulative_meterset_weight = std::clamp(mu_of(s) / total, 0.0, 1.0);
    cp.jaw_x1_mm = s.jaw_actual_mm[0];
    cp.jaw_x2_mm = s.jaw_actual_mm[1];
    cp.jaw_y1_mm = s.jaw_actual_mm[2];
    cp.jaw_y2_mm = s.jaw_actual_mm[3];
    cp.leaf_a_mm = s.leaf_a_actual_mm;
    cp.leaf_b_mm = s.leaf_b_actual_mm;
    if (!beam.control_points.empty()) {
      const double prev = beam.control_points.back().gantry_deg;
      const double d = std::remainder(cp.gantry_deg - prev, 360.0);
      cp.gantry_direction =
          d >= 0 ? RotationDirection::kClockwise : RotationDirection::kCounterClockwise;
      cp.cumulative_meterset_weight = std::max(
          cp.cumulative_meterset_weight, beam.control_points.back().cumulative_meterset_weight);
    }
    beam.control_points.push_back(std::move(cp));
  };
  add(*on.front());
  for (std::size_t i = 1; i + 1 < on.size(); ++i) {
    if (angle_between_deg(on[i]->gantry_actual_deg, beam.control_points.back().gantry_deg) >=
        gantry_step_deg) {
      add(*on[i]);
    }
  }
  add(*on.back());
  beam.control_points.front().gantry_direction = beam.control_points[1].gantry_direction;
  beam.control_points.back().cumulative_meterset_weight = 1.0;
  return beam;
}

}  // namespace linac::delivery
