#include "linac/delivery/trajectory.hpp"

#include <algorithm>
#include <cmath>

namespace linac::delivery {

double gantry_travel_deg(double from_deg, double to_deg, RotationDirection direction) {
  double d = std::fmod(to_deg - from_deg, 360.0);
  if (d < 0.0) d += 360.0;  // [0, 360): clockwise travel
  switch (direction) {
    case RotationDirection::kClockwise:
      return d;
    case RotationDirection::kCounterClockwise:
      return d == 0.0 ? 0.0 : d - 360.0;
    case RotationDirection::kNone:
      return d > 180.0 ? d - 360.0 : d;
  }
  return d;
}

namespace {

/// Segments lengthened (never shortened) where the machine could not follow a step between
/// neighbours (measured on the simulated Clinac with routed plans, whose MU per degree jump
/// from 4 to 0.1 from one control point to the next; ADR 0009):
/// - the dose rate falls into a segment by at most what the dose servo's transient (twice its
///   time constant, the control cycle included) delivers in half that segment's MU: a larger fall
///   overshoots the segment's MU and drags the MU-driven set-points past the gantry and leaves;
/// - the gantry's speed changes between segments by at most its acceleration over two servo time
///   constants: a larger step leaves the gantry a degree behind its set-point.
/// Alternated until both hold (durations only grow); segments with no MU (beam-off transitions) are
/// left as they are.
void ramp(std::vector<Segment>& seg, const MachineProfile& profile) {
  const std::size_t n = seg.size();
  if (n < 2) return;
  const double tau_dose = 2.0 * profile.dose.dose_rate_servo_time_constant_s;
  const double dv =
      2.0 * profile.gantry.max_acceleration_deg_per_s2 * profile.gantry.servo_time_constant_s;
  auto rate = [&](std::size_t k) { return seg[k].mu / seg[k].duration_s; };  // MU/s
  auto on = [&](std::size_t k) { return seg[k].mu > 0.0 && seg[k].duration_s > 0.0; };
  bool changed = true;
  auto lengthen = [&](std::size_t k, double d) {
    if (d > seg[k].duration_s * (1.0 + 1e-9)) {
      seg[k].duration_s = d;
      seg[k].limited_by = SegmentLimit::kRamp;
      changed = true;
    }
  };
  for (int pass = 0; pass < 100 && changed; ++pass) {  // durations only grow: it settles
    changed = false;
    if (tau_dose > 0.0) {
      for (std::size_t k = n - 1; k-- > 0;) {
        if (!on(k) || !on(k + 1)) continue;
        const double limit = rate(k + 1) + 0.5 * seg[k + 1].mu / tau_dose;
        if (rate(k) > limit) lengthen(k, seg[k].mu / limit);
      }
    }
    if (dv > 0.0) {
      std::vector<double> v(n, 0.0);
      for (std::size_t k = 0; k < n; ++k) {
        if (on(k)) v[k] = std::abs(seg[k].gantry_delta_deg) / seg[k].duration_s;
      }
      for (std::size_t k = 1; k < n; ++k) {
        if (on(k) && on(k - 1)) v[k] = std::min(v[k], v[k - 1] + dv);
      }
      for (std::size_t k = n - 1; k-- > 0;) {
        if (on(k) && on(k + 1)) v[k] = std::min(v[k], v[k + 1] + dv);
      }
      for (std::size_t k = 0; k < n; ++k) {
        if (on(k) && v[k] > 0.0) lengthen(k, std::abs(seg[k].gantry_delta_deg) / v[k]);
      }
    }
  }
}

}  // namespace

BeamTrajectory sequence_beam(const Beam& beam, const MachineProfile& profile) {
  BeamTrajectory out;
  const auto& cps = beam.control_points;
  if (cps.empty()) return out;
  const double max_dose_rate_mu_per_s = profile.dose.max_dose_rate_mu_per_min / 60.0;
  const double max_gantry = profile.gantry.max_speed_deg_per_s;
  const double max_leaf = profile.mlc.max_leaf_speed_mm_per_s;
  double t = 0.0;
  out.points.push_back(
      {0.0, cps[0].gantry_deg, cps[0].cumulative_meterset_weight * beam.meterset_mu, 0});
  for (std::size_t i = 0; i + 1 < cps.size(); ++i) {
    const ControlPoint& a = cps[i];
    const ControlPoint& b = cps[i + 1];
    Segment s;
    s.from_control_point = static_cast<int>(i);
    s.mu = (b.cumulative_meterset_weight - a.cumulative_meterset_weight) * beam.meterset_mu;
    s.gantry_delta_deg = gantry_travel_deg(a.gantry_deg, b.gantry_deg, a.gantry_direction);
    for (std::size_t l = 0; l < a.leaf_a_mm.size() && l < b.leaf_a_mm.size(); ++l) {
      s.max_leaf_travel_mm =
          std::max(s.max_leaf_travel_mm, std::abs(b.leaf_a_mm[l] - a.leaf_a_mm[l]));
    }
    for (std::size_t l = 0; l < a.leaf_b_mm.size() && l < b.leaf_b_mm.size(); ++l) {
      s.max_leaf_travel_mm =
          std::max(s.max_leaf_travel_mm, std::abs(b.leaf_b_mm[l] - a.leaf_b_mm[l]));
    }
    // A planned dose rate (static and dynamic beams) is the rate the machine will use.
    const double rate_mu_per_s =
        a.dose_rate_mu_per_min ? std::min(*a.dose_rate_mu_per_min / 60.0, max_dose_rate_mu_per_s)
                               : max_dose_rate_mu_per_s;
    const double by_dose = rate_mu_per_s > 0.0 ? std::max(0.0, s.mu) / rate_mu_per_s : 0.0;
    const double by_gantry = std::abs(s.gantry_delta_deg) / max_gantry;
    const double by_leaf = s.max_leaf_travel_mm / max_leaf;
    s.duration_s = std::max({by_dose, by_gantry, by_leaf});
    if (s.duration_s > 0.0) {
      s.limited_by = s.duration_s == by_dose     ? SegmentLimit::kDoseRate
                     : s.duration_s == by_gantry ? SegmentLimit::kGantrySpeed
                                                 : SegmentLimit::kLeafSpeed;
    }
    out.segments.push_back(s);
  }
  ramp(out.segments, profile);
  for (std::size_t i = 0; i < out.segments.size(); ++i) {
    Segment& s = out.segments[i];
    if (s.duration_s > 0.0) {
      s.dose_rate_mu_per_min = s.mu / s.duration_s * 60.0;
      s.gantry_speed_deg_per_s = s.gantry_delta_deg / s.duration_s;
      s.max_leaf_speed_mm_per_s = s.max_leaf_travel_mm / s.duration_s;
    }
    t += s.duration_s;
    const ControlPoint& b = cps[i + 1];
    out.points.push_back({t, b.gantry_deg, b.cumulative_meterset_weight * beam.meterset_mu,
                          static_cast<int>(i + 1)});
  }
  out.beam_on_s = t;
  return out;
}

}  // namespace linac::delivery
