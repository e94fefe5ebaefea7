#include "linac/delivery/validator.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "linac/core/text.hpp"
#include "linac/delivery/trajectory.hpp"
#include "linac/formats/plan_io.hpp"

namespace linac::delivery {
namespace {

// IEC angle in [0, 360) to the continuous (-180, 180] scale of the machine's axis ranges.
double to_signed_deg(double deg) {
  double a = std::fmod(deg, 360.0);
  if (a > 180.0) a -= 360.0;
  if (a <= -180.0) a += 360.0;
  return a;
}

class Checker {
 public:
  Checker(const Beam& beam, std::vector<Violation>& out) : beam_(beam), out_(out) {}
  void add(int cp, const std::string& axis, double value, double limit, const std::string& what) {
    out_.push_back({beam_.name, cp, axis, value, limit,
                    "beam '" + beam_.name + "'" +
                        (cp >= 0 ? " control point " + std::to_string(cp) : "") + ": " + axis +
                        " " + what});
  }
  void range(int cp, const std::string& axis, double v, double lo, double hi) {
    if (v < lo)
      add(cp, axis, v, lo, "= " + format_number(v) + " below the limit " + format_number(lo));
    if (v > hi)
      add(cp, axis, v, hi, "= " + format_number(v) + " above the limit " + format_number(hi));
  }

 private:
  const Beam& beam_;
  std::vector<Violation>& out_;
};

void check_beam(const Plan& plan, const Beam& beam, const MachineProfile& p,
                std::vector<Violation>& out) {
  Checker c(beam, out);
  const std::string machine = beam.treatment_machine_name.empty() ? plan.treatment_machine_name
                                                                  : beam.treatment_machine_name;
  if (!p.answers_to(machine)) {
    std::string names = "'" + p.machine_name + "'";
    for (const auto& a : p.machine_aliases) names += ", '" + a + "'";
    c.add(-1, "machine", 0.0, 0.0,
          "'" + machine + "' is not this machine (it answers to " + names +
              "; a site adds its planning system's machine ID to machine_aliases in the profile)");
  }
  if (beam.radiation_type != "PHOTON") {
    c.add(-1, "radiation_type", 0.0, 0.0, "'" + beam.radiation_type + "' is not available");
  }
  if (std::none_of(p.dose.nominal_energies_mv.begin(), p.dose.nominal_energies_mv.end(),
                   [&](double e) { return std::abs(e - beam.nominal_energy_mv) < 1e-6; })) {
    c.add(-1, "energy", beam.nominal_energy_mv, 0.0,
          format_number(beam.nominal_energy_mv) + " MV is not available on this machine");
  }
  const auto& m = p.mlc;
  if (!beam.leaf_boundaries_mm.empty()) {
    if (beam.leaf_boundaries_mm.size() != m.leaf_boundaries_mm.size()) {
      c.add(-1, "leaf_boundaries", static_cast<double>(beam.leaf_boundaries_mm.size()),
            static_cast<double>(m.leaf_boundaries_mm.size()),
            "count differs from the " + m.model + " model");
    } else {
      for (std::size_t i = 0; i < m.leaf_boundaries_mm.size(); ++i) {
        if (std::abs(beam.leaf_boundaries_mm[i] - m.leaf_boundaries_mm[i]) > 0.01) {
          c.add(-1, "leaf_boundaries[" + std::to_string(i) + "]", beam.leaf_boundaries_mm[i],
                m.leaf_boundaries_mm[i], "does not match the " + m.model + " model");
          break;
        }
      }
    }
  }
  const auto& cps = beam.control_points;
  if (cps.empty()) return;
  // Cumulative meterset: from 0, never decreasing, ending at 1.
  if (std::abs(cps.front().cumulative_meterset_weight) > 1e-6) {
    c.add(0, "meterset_weight", cps.front().cumulative_meterset_weight, 0.0, "must start at 0");
  }
  if (std::abs(cps.back().cumulative_meterset_weight - 1.0) > 1e-6) {
    c.add(static_cast<int>(cps.size() - 1), "meterset_weight",
          cps.back().cumulative_meterset_weight, 1.0, "must end at 1");
  }
  const bool arc = beam.type == BeamType::kArc;
  const RotationDirection dir = cps.front().gantry_direction;
  if (arc && dir == RotationDirection::kNone) {
    c.add(0, "gantry_direction", 0.0, 0.0, "an arc needs a rotation direction (CW or CC)");
  }
  double gantry_continuous = to_signed_deg(cps.front().gantry_deg);
  double arc_travel = 0.0;
  for (std::size_t i = 0; i < cps.size(); ++i) {
    const ControlPoint& cp = cps[i];
    const int n = static_cast<int>(i);
    if (i > 0 && cp.cumulative_meterset_weight + 1e-9 < cps[i - 1].cumulative_meterset_weight) {
      c.add(n, "meterset_weight", cp.cumulative_meterset_weight,
            cps[i - 1].cumulative_meterset_weight, "decreases (cumulative meterset must not)");
    }
    if (static_cast<int>(cp.leaf_a_mm.size()) == m.leaf_pairs &&
        static_cast<int>(cp.leaf_b_mm.size()) == m.leaf_pairs) {
      for (int l = 0; l < m.leaf_pairs; ++l) {
        c.range(n, "leaf A" + std::to_string(l + 1), cp.leaf_a_mm[l], -m.max_extension_past_cax_mm,
                m.max_retraction_mm);
        c.range(n, "leaf B" + std::to_string(l + 1), cp.leaf_b_mm[l], -m.max_retraction_mm,
                m.max_extension_past_cax_mm);
        const double gap = cp.leaf_a_mm[l] - cp.leaf_b_mm[l];
        if (gap < m.min_dynamic_gap_mm - 1e-9) {
          // Closed pairs the jaws shield were opened (as_delivered): these are not shielded.
          c.add(n, "leaf pair " + std::to_string(l + 1), gap, m.min_dynamic_gap_mm,
                "gap " + format_measured(gap) + " mm below the minimum " +
                    format_number(m.min_dynamic_gap_mm) + " mm" +
                    (gap < 0.0 ? " (the leaves cross)"
                               : " inside the open field (no jaw shields it)"));
        }
      }
      for (const auto* bank : {&cp.leaf_a_mm, &cp.leaf_b_mm}) {
        const auto [lo, hi] = std::minmax_element(bank->begin(), bank->end());
        if (*hi - *lo > m.max_bank_span_mm + 1e-9) {
          c.add(n, bank == &cp.leaf_a_mm ? "bank A span" : "bank B span", *hi - *lo,
                m.max_bank_span_mm,
                "= " + format_measured(*hi - *lo) + " mm exceeds the carriage limit");
        }
      }
    } else {
      c.add(n, "leaf count", static_cast<double>(cp.leaf_a_mm.size()), m.leaf_pairs,
            "does not match the " + std::to_string(m.leaf_pairs) + " leaf pairs of the MLC");
    }
    const auto& j = p.jaws;
    c.range(n, "jaw X1", cp.jaw_x1_mm, -j.x_max_open_mm, j.x_max_overtravel_mm);
    c.range(n, "jaw X2", cp.jaw_x2_mm, -j.x_max_overtravel_mm, j.x_max_open_mm);
    c.range(n, "jaw Y1", cp.jaw_y1_mm, -j.y_max_open_mm, j.y_max_overtravel_mm);
    c.range(n, "jaw Y2", cp.jaw_y2_mm, -j.y_max_overtravel_mm, j.y_max_open_mm);
    c.range(n, "collimator", to_signed_deg(cp.collimator_deg), p.collimator.min_deg,
            p.collimator.max_deg);
    if (cp.dose_rate_mu_per_min) {
      const double r = *cp.dose_rate_mu_per_min;
      c.range(n, "dose_rate", r, 0.0, p.dose.max_dose_rate_mu_per_min);
      const auto& fixed = p.dose.fixed_dose_rates_mu_per_min;
      if (!arc && !fixed.empty() && std::none_of(fixed.begin(), fixed.end(), [&](double f) {
            return std::abs(f - r) < 1e-6;
          })) {
        c.add(n, "dose_rate", r, 0.0,
              "= " + format_number(r) + " MU/min is not one of the machine's fixed rates");
      }
    }
    if (i + 1 < cps.size()) {
      const ControlPoint& next = cps[i + 1];
      if (arc && i + 1 < cps.size() - 1 && next.gantry_direction != dir) {
        c.add(n + 1, "gantry_direction", 0.0, 0.0,
              "changes within the arc (" + to_string(dir) + " then " +
                  to_string(next.gantry_direction) + ")");
      }
      const double delta =
          gantry_travel_deg(cp.gantry_deg, next.gantry_deg, arc ? dir : RotationDirection::kNone);
      if (!arc && std::abs(delta) > 1e-6) {
        c.add(n + 1, "gantry", next.gantry_deg, cp.gantry_deg,
              "moves in a beam that is not an arc");
      }
      gantry_continuous += delta;
      arc_travel += std::abs(delta);
      c.range(n + 1, "gantry", gantry_continuous, p.gantry.min_deg, p.gantry.max_deg);
      const double mu =
          (next.cumulative_meterset_weight - cp.cumulative_meterset_weight) * beam.meterset_mu;
      if (arc && std::abs(delta) > 1e-9 && mu > 0.0) {
        const double mu_per_deg = mu / std::abs(delta);
        if (mu_per_deg > p.dose.max_mu_per_deg) {
          c.add(n, "mu_per_deg", mu_per_deg, p.dose.max_mu_per_deg,
                "= " + format_measured(mu_per_deg) + " MU/deg above the machine's " +
                    format_number(p.dose.max_mu_per_deg));
        } else if (mu_per_deg < p.dose.min_mu_per_deg) {
          c.add(n, "mu_per_deg", mu_per_deg, p.dose.min_mu_per_deg,
                "= " + format_measured(mu_per_deg) + " MU/deg below the machine's " +
                    format_number(p.dose.min_mu_per_deg));
        }
      }
    }
  }
  if (arc && arc_travel > 360.0 + 1e-6) {
    c.add(-1, "gantry", arc_travel, 360.0,
          "arc of " + format_measured(arc_travel) + " deg is longer than a turn");
  }
}

/// The leaves' speed changes at the control points of the sequenced trajectory. Within a segment
/// each leaf moves at a constant speed; at a control point it changes speed at most at the MLC's
/// acceleration, and lags its set-point meanwhile by Δv² / (2 a). Beyond the position tolerance
/// the leaf-deviation interlock holds the beam until the leaf catches up (a warning: the delivery
/// pauses and resumes); beyond twice the tolerance the leaves cannot follow the plan's shape at
/// all as sequenced — typically a reversal near full speed (Δv ≈ 2 v_max), which the delivery
/// would meet as repeated holds at every such control point: a violation.
/// A segment of zero MU (a step-and-shoot transition) is delivered with the beam off and the
/// beam comes on again only once every leaf is at the next segment (DeliverySession): its speed
/// changes hold nothing, and the next segment's leaves start from rest.
void check_leaf_dynamics(const Beam& beam, const BeamTrajectory& t, const MachineProfile& p,
                         std::vector<Violation>& violations, std::vector<Violation>& warnings) {
  const auto& m = p.mlc;
  const auto& cps = beam.control_points;
  if (m.max_leaf_acceleration_mm_per_s2 <= 0.0 || t.segments.size() + 1 != cps.size()) return;
  const double hold_mm = m.position_tolerance_mm;
  const double limit_mm = 2.0 * m.position_tolerance_mm;
  Checker refuse(beam, violations);
  Checker warn(beam, warnings);
  auto beam_off = [&](std::size_t seg) { return t.segments[seg].mu <= 1e-9 * beam.meterset_mu; };
  auto speed = [&](std::size_t seg, bool bank_a, std::size_t l) {
    const auto& s = t.segments[seg];
    if (beam_off(seg)) return 0.0;  // the leaves arrive, and settle, before the beam is on
    const auto& from = bank_a ? cps[seg].leaf_a_mm : cps[seg].leaf_b_mm;
    const auto& to = bank_a ? cps[seg + 1].leaf_a_mm : cps[seg + 1].leaf_b_mm;
    if (s.duration_s <= 0.0 || l >= from.size() || l >= to.size()) return 0.0;
    return (to[l] - from[l]) / s.duration_s;
  };
  for (std::size_t k = 1; k < t.segments.size(); ++k) {
    if (beam_off(k)) continue;
    double worst = 0.0;
    std::string axis;
    for (const bool bank_a : {true, false}) {
      const auto& leaves = bank_a ? cps[k].leaf_a_mm : cps[k].leaf_b_mm;
      for (std::size_t l = 0; l < leaves.size(); ++l) {
        const double dv = speed(k, bank_a, l) - speed(k - 1, bank_a, l);
        const double lag = dv * dv / (2.0 * m.max_leaf_acceleration_mm_per_s2);
        if (lag > worst) {
          worst = lag;
          axis = std::string(bank_a ? "leaf A" : "leaf B") + std::to_string(l + 1);
        }
      }
    }
    if (worst > limit_mm + 1e-9) {
      refuse.add(static_cast<int>(k), axis, worst, limit_mm,
                 "would lag its set-point by " + format_measured(worst) +
                     " mm changing speed here (limit " + format_number(limit_mm) +
                     " mm, twice the leaf position tolerance)");
    } else if (worst > hold_mm + 1e-9) {
      warn.add(static_cast<int>(k), axis, worst, hold_mm,
               "would lag its set-point by " + format_measured(worst) +
                   " mm changing speed here: the beam holds until it catches up (tolerance " +
                   format_number(hold_mm) + " mm)");
    }
  }
}

}  // namespace

std::string ValidationReport::to_json() const {
  nlohmann::json j;
  j["deliverable"] = deliverable;
  j["plan_checksum"] = plan_checksum;
  j["beams"] = nlohmann::json::array();
  for (const auto& b : beams) {
    j["beams"].push_back({{"name", b.name},
                          {"control_points", b.control_points},
                          {"mu", b.mu},
                          {"predicted_beam_on_s", b.predicted_beam_on_s}});
  }
  for (const auto* list : {&violations, &warnings}) {
    auto& out = j[list == &violations ? "violations" : "warnings"];
    out = nlohmann::json::array();
    for (const auto& v : *list) {
      nlohmann::json e = {{"beam", v.beam},
                          {"axis", v.axis},
                          {"value", v.value},
                          {"limit", v.limit},
                          {"message", v.message}};
      e["control_point"] =
          v.control_point >= 0 ? nlohmann::json(v.control_point) : nlohmann::json();
      out.push_back(e);
    }
  }
  j["adjustments"] = nlohmann::json::array();
  for (const auto& a : adjustments) {
    j["adjustments"].push_back({{"beam", a.beam},
                                {"leaf_pair", a.leaf_pair},
                                {"control_points", a.control_points},
                                {"first_control_point", a.first_control_point},
                                {"smallest_planned_gap_mm", a.smallest_planned_gap_mm},
                                {"shielded_by", a.shielded_by},
                                {"message", a.message}});
  }
  return j.dump(2);
}

ValidationReport validate_plan(const Plan& plan, const MachineProfile& profile) {
  ValidationReport r;
  r.plan_checksum = plan_checksum(plan);  // of the plan as given: what was approved
  const Plan delivered = as_delivered(plan, profile, &r.adjustments);
  for (const Beam& beam : delivered.beams) {
    check_beam(delivered, beam, profile, r.violations);
    const BeamTrajectory t = sequence_beam(beam, profile);
    check_leaf_dynamics(beam, t, profile, r.violations, r.warnings);
    r.beams.push_back(
        {beam.name, static_cast<int>(beam.control_points.size()), beam.meterset_mu, t.beam_on_s});
  }
  r.deliverable = r.violations.empty() && !plan.beams.empty();
  return r;
}

}  // namespace linac::delivery
