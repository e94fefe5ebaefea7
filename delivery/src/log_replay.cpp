#include "linac/delivery/log_replay.hpp"

#include <algorithm>
#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/log_qa.hpp"

namespace linac::delivery {

namespace {

/// The signed shortest rotation from `from` to `to`, degrees in (-180, 180].
double delta_deg(double from, double to) {
  double d = std::fmod(to - from, 360.0);
  if (d <= -180.0) d += 360.0;
  if (d > 180.0) d -= 360.0;
  return d;
}

double wrap_deg(double a) {
  double w = std::fmod(a, 360.0);
  if (w < 0.0) w += 360.0;
  return w >= 360.0 ? 0.0 : w;
}

double tenth(double v) {
  return std::round(v * 10.0) / 10.0;
}

/// The log's delivered fraction at each snapshot (0..1 over the log), as pylinac reads it: the
/// dose fraction (Dynalog), the MU (trajectory log), or for a Dynalog that records the gantry in
/// its dose column (VMAT: the last value is not the full dose index) the gantry's travel.
std::vector<double> delivered_fraction(const MachineLog& log) {
  const auto& s = log.snapshots;
  std::vector<double> f(s.size(), 0.0);
  if (log.format == "trajectory") {
    const double total = s.back().mu_expected;
    for (std::size_t i = 0; i < s.size(); ++i) f[i] = total > 0.0 ? s[i].mu_expected / total : 0.0;
    return f;
  }
  if (s.back().dose_fraction == 1.0) {
    for (std::size_t i = 0; i < s.size(); ++i) f[i] = s[i].dose_fraction;
    return f;
  }
  double travel = 0.0;
  for (std::size_t i = 1; i < s.size(); ++i) {
    travel += std::abs(delta_deg(s[i - 1].gantry_actual_deg, s[i].gantry_actual_deg));
    f[i] = travel;
  }
  for (double& v : f) v = travel > 0.0 ? v / travel : 0.0;
  return f;
}

}  // namespace

Plan plan_from_log(const MachineLog& log, double beam_mu, const MachineProfile& profile,
                   std::vector<std::string>* notes) {
  auto note = [&](const std::string& n) {
    if (notes != nullptr) notes->push_back(n);
  };
  const std::string where = log.files.empty() ? "log" : log.files.front().string();
  const auto& s = log.snapshots;
  std::size_t first = s.size();
  std::size_t last = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (!s[i].delivering()) continue;
    first = std::min(first, i);
    last = i;
  }
  if (first >= s.size() || last <= first) {
    throw InputError(where, "no beam-on snapshots to rebuild control points from");
  }
  if (beam_mu <= 0.0) beam_mu = log.beam_mu;
  if (!(beam_mu > 0.0)) {
    throw InputError(where, "the log does not carry the beam's MU (a Dynalog): give them");
  }
  if (log.leaf_pairs != profile.mlc.leaf_pairs) {
    throw InputError(where, std::to_string(log.leaf_pairs) + " leaf pairs, the machine has " +
                                std::to_string(profile.mlc.leaf_pairs));
  }
  // A control point where the log's segment changes, and at the first and last beam-on snapshot.
  std::vector<std::size_t> at{first};
  for (std::size_t i = first + 1; i < last; ++i) {
    if (s[i].control_point != s[i - 1].control_point) at.push_back(i);
  }
  at.push_back(last);
  const std::vector<double> fraction = delivered_fraction(log);
  const double f0 = fraction[first];
  const double range = fraction[last] - f0;
  // The gantry unwrapped along its travel (noise never turns it back).
  double unwrapped = s[first].gantry_actual_deg;
  double travel = 0.0;
  for (std::size_t i = first + 1; i <= last; ++i) {
    travel += delta_deg(s[i - 1].gantry_actual_deg, s[i].gantry_actual_deg);
  }
  const double sign = travel >= 0.0 ? 1.0 : -1.0;
  const bool arc = std::abs(travel) > 1.0;
  // An arc the machine's gantry range cannot hold where it was recorded (it crosses the range's
  // ends) is replayed about the opposite side: the same travel, speeds and accelerations.
  auto to_signed = [](double a) { return a > 180.0 ? a - 360.0 : a; };
  const double start = to_signed(s[first].gantry_actual_deg);
  const auto fits = [&](double from) {
    const double to = from + travel;
    return std::min(from, to) >= profile.gantry.min_deg &&
           std::max(from, to) <= profile.gantry.max_deg;
  };
  double turn = 0.0;
  if (arc && !fits(start) && fits(to_signed(wrap_deg(start + 180.0)))) {
    turn = 180.0;
    note("the recorded arc (" + format_number(tenth(wrap_deg(start))) + " deg, " +
         format_number(tenth(travel)) + " deg of travel) leaves the gantry's range [" +
         format_number(profile.gantry.min_deg) + ", " + format_number(profile.gantry.max_deg) +
         "] deg; replayed turned by 180 deg (same travel and speeds)");
  }
  unwrapped += turn;
  Beam beam;
  beam.number = 1;
  beam.name = log.beam_name.empty() ? "replay" : log.beam_name;
  beam.type = arc ? BeamType::kArc : BeamType::kDynamic;
  beam.meterset_mu = std::round(beam_mu * 100.0) / 100.0;
  beam.treatment_machine_name = profile.machine_name;
  beam.leaf_boundaries_mm = profile.mlc.leaf_boundaries_mm;
  double weight = 0.0;
  int narrowed = 0;
  std::size_t previous = first;
  for (const std::size_t i : at) {
    const LogSnapshot& p = s[i];
    if (i != first) {
      unwrapped += sign * std::max(0.0, sign * delta_deg(s[previous].gantry_actual_deg,
                                                         p.gantry_actual_deg));
    }
    previous = i;
    ControlPoint cp;
    cp.gantry_deg = arc ? tenth(wrap_deg(unwrapped)) : tenth(wrap_deg(s[first].gantry_actual_deg));
    if (cp.gantry_deg >= 360.0) cp.gantry_deg = 0.0;
    cp.gantry_direction =
        !arc ? RotationDirection::kNone
             : (sign > 0.0 ? RotationDirection::kClockwise : RotationDirection::kCounterClockwise);
    cp.collimator_deg = tenth(s[first].collimator_actual_deg);
    weight = std::max(weight, range > 0.0 ? (fraction[i] - f0) / range : 0.0);
    cp.cumulative_meterset_weight = i == last ? 1.0 : std::min(1.0, weight);
    cp.leaf_a_mm.resize(p.leaf_a_expected_mm.size());
    cp.leaf_b_mm.resize(p.leaf_b_expected_mm.size());
    for (std::size_t l = 0; l < cp.leaf_a_mm.size(); ++l) {
      double a = p.leaf_a_expected_mm[l];
      double b = p.leaf_b_expected_mm[l];
      if (a - b < profile.mlc.min_dynamic_gap_mm) {  // a closed pair: the machine's gap
        const double mid = 0.5 * (a + b);
        a = mid + 0.5 * profile.mlc.min_dynamic_gap_mm;
        b = mid - 0.5 * profile.mlc.min_dynamic_gap_mm;
        ++narrowed;
      }
      cp.leaf_a_mm[l] = std::ceil(a * 100.0) / 100.0;
      cp.leaf_b_mm[l] = std::floor(b * 100.0) / 100.0;
    }
    cp.jaw_x1_mm = tenth(p.jaw_actual_mm[0]);
    cp.jaw_x2_mm = tenth(p.jaw_actual_mm[1]);
    cp.jaw_y1_mm = tenth(p.jaw_actual_mm[2]);
    cp.jaw_y2_mm = tenth(p.jaw_actual_mm[3]);
    beam.control_points.push_back(std::move(cp));
  }
  if (narrowed > 0) {
    note(std::to_string(narrowed) + " leaf-pair positions closer than the machine's " +
         format_number(profile.mlc.min_dynamic_gap_mm) + " mm minimum gap opened to it");
  }
  Plan plan;
  plan.label = "replay";
  plan.patient_id = log.patient_id.empty() ? "replay" : log.patient_id;
  plan.treatment_machine_name = profile.machine_name;
  plan.beams.push_back(std::move(beam));
  return plan;
}

DeliveryFigures delivery_figures(const MachineLog& log,
                                 const std::vector<double>& leaf_boundaries_mm) {
  DeliveryFigures f;
  const LogAnalysis a = analyse_log(log, leaf_boundaries_mm);
  f.beam_on_s = a.beam_on_s;
  f.rms_mean_mm = a.rms_mean_mm;
  f.rms_max_mm = a.rms_max_mm;
  f.p95_mm = a.p95_mm;
  f.beam_holds = a.beam_holds;
  // Gantry speed over the beam-on snapshots: travel over beam-on time, and the fastest second.
  std::vector<std::pair<double, double>> on;  // time, unwrapped gantry
  double unwrapped = 0.0;
  const LogSnapshot* prev = nullptr;
  for (const auto& s : log.snapshots) {
    if (prev != nullptr) unwrapped += delta_deg(prev->gantry_actual_deg, s.gantry_actual_deg);
    prev = &s;
    if (s.delivering()) on.emplace_back(s.time_s, unwrapped);
  }
  if (on.size() >= 2) {
    f.gantry_travel_deg = std::abs(on.back().second - on.front().second);
    if (f.beam_on_s > 0.0) f.gantry_speed_mean_deg_per_s = f.gantry_travel_deg / f.beam_on_s;
    std::size_t j = 0;
    for (std::size_t i = 0; i < on.size(); ++i) {
      while (j < on.size() && on[j].first - on[i].first < 1.0) ++j;
      if (j >= on.size()) break;
      const double dt = on[j].first - on[i].first;
      f.gantry_speed_max_deg_per_s =
          std::max(f.gantry_speed_max_deg_per_s, std::abs(on[j].second - on[i].second) / dt);
    }
  }
  return f;
}

}  // namespace linac::delivery
