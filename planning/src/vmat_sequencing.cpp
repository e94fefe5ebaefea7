// Holding the optimised apertures to the machine (project) and writing them as a plan
// (make_plan): leaf travel per control point, bank span, minimum gap, jaws, and the leaf pairs
// outside the jaws parked within the span.
#include <algorithm>
#include <cmath>

#include "vmat_problem.hpp"

namespace linac::planning {

Aperture VmatPlanner::Impl::aperture_of(
    const Arc& arc, const std::function<std::pair<double, double>(int)>& leaves) const {
  Aperture a = arc.jaws;
  const double centre = 0.5 * (arc.jaws.x1_mm + arc.jaws.x2_mm);
  a.leaf_a_mm.assign(static_cast<std::size_t>(profile.mlc.leaf_pairs), centre);
  a.leaf_b_mm.assign(static_cast<std::size_t>(profile.mlc.leaf_pairs), centre);
  for (int r = 0; r < arc.rows; ++r) {
    const auto [la, lb] = leaves(r);
    a.leaf_a_mm[arc.row_index(r)] = la;
    a.leaf_b_mm[arc.row_index(r)] = lb;
  }
  return a;
}

void VmatPlanner::Impl::project(std::vector<double>& x) const {
  // Hard limits in leaf space (mm): gap, jaws (leaves may stay up to 5 mm beyond a jaw), travel
  // per control point, bank span. A forward pass along the arc keeps each step within reach.
  const double gap = profile.mlc.min_dynamic_gap_mm + 0.05;
  const double span = profile.mlc.max_bank_span_mm - 0.5;
  const double speed = profile.mlc.max_leaf_speed_mm_per_s;
  const double gantry = profile.gantry.max_speed_deg_per_s;
  for (const auto& arc : arcs) {
    const double travel = options.leaf_travel_fraction * speed * arc.spacing_deg / gantry - gap;
    std::vector<double> pa(static_cast<std::size_t>(arc.rows));
    std::vector<double> pb(static_cast<std::size_t>(arc.rows));
    for (int i = 0; i < arc.cps(); ++i) {
      std::vector<double> a(static_cast<std::size_t>(arc.rows));
      std::vector<double> b(static_cast<std::size_t>(arc.rows));
      for (int r = 0; r < arc.rows; ++r) {
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        const auto rr = static_cast<std::size_t>(r);
        a[rr] =
            std::clamp((x[k] + x[k + 1]) * kLeafScale, arc.jaws.x1_mm - 5.0, arc.jaws.x2_mm + 5.0);
        b[rr] =
            std::clamp((x[k] - x[k + 1]) * kLeafScale, arc.jaws.x1_mm - 5.0, arc.jaws.x2_mm + 5.0);
        if (i > 0) {
          a[rr] = std::clamp(a[rr], pa[rr] - travel, pa[rr] + travel);
          b[rr] = std::clamp(b[rr], pb[rr] - travel, pb[rr] + travel);
        }
      }
      for (int pass = 0; pass < 2; ++pass) {
        const double amax = *std::max_element(a.begin(), a.end());
        const double bmin = *std::min_element(b.begin(), b.end());
        for (std::size_t r = 0; r < a.size(); ++r) {
          a[r] = std::max(a[r], amax - span);  // opens, never closes: coverage kept
          b[r] = std::min(b[r], bmin + span);
          if (a[r] - b[r] < gap) {
            const double mid = 0.5 * (a[r] + b[r]);
            a[r] = mid + 0.5 * gap;
            b[r] = mid - 0.5 * gap;
          }
        }
      }
      for (int r = 0; r < arc.rows; ++r) {
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        const auto rr = static_cast<std::size_t>(r);
        x[k] = 0.5 * (a[rr] + b[rr]) / kLeafScale;
        x[k + 1] = 0.5 * (a[rr] - b[rr]) / kLeafScale;
      }
      pa = a;
      pb = b;
    }
  }
}

Plan VmatPlanner::Impl::make_plan(const std::vector<double>& x, const std::string& label) const {
  Plan plan;
  plan.label = label;
  plan.treatment_machine_name = profile.machine_name;
  plan.prescription = {options.target, options.prescription_gy, options.fractions};
  const int pairs = profile.mlc.leaf_pairs;
  const double gap = profile.mlc.min_dynamic_gap_mm;
  const double span = profile.mlc.max_bank_span_mm;
  unsigned number = 1;
  for (const auto& arc : arcs) {
    Beam beam;
    beam.number = number;
    beam.name = "Arc" + std::to_string(number);
    ++number;
    beam.type = BeamType::kArc;
    beam.nominal_energy_mv = 6.0;
    beam.treatment_machine_name = profile.machine_name;
    beam.leaf_boundaries_mm = profile.mlc.leaf_boundaries_mm;
    double total = 0.0;
    for (int s = 0; s + 1 < arc.cps(); ++s) total += x[arc.seg(s)];
    beam.meterset_mu = total;
    double cumulative = 0.0;
    for (int i = 0; i < arc.cps(); ++i) {
      ControlPoint cp;
      cp.gantry_deg = arc.gantry_deg[static_cast<std::size_t>(i)];
      cp.gantry_direction = arc.spec.direction;
      cp.collimator_deg = arc.spec.collimator_deg;
      if (i > 0) cumulative += x[arc.seg(i - 1)];
      cp.cumulative_meterset_weight = i + 1 == arc.cps() ? 1.0 : cumulative / total;
      cp.jaw_x1_mm = arc.jaws.x1_mm;
      cp.jaw_x2_mm = arc.jaws.x2_mm;
      cp.jaw_y1_mm = arc.jaws.y1_mm;
      cp.jaw_y2_mm = arc.jaws.y2_mm;
      cp.leaf_a_mm.assign(static_cast<std::size_t>(pairs), 0.0);
      cp.leaf_b_mm.assign(static_cast<std::size_t>(pairs), 0.0);
      double amin = 1e9, amax = -1e9, bmin = 1e9, bmax = -1e9;
      for (int r = 0; r < arc.rows; ++r) {
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        const auto row = arc.row_index(r);
        cp.leaf_a_mm[row] = std::round((x[k] + x[k + 1]) * kLeafScale * 100.0) / 100.0;
        cp.leaf_b_mm[row] = std::round((x[k] - x[k + 1]) * kLeafScale * 100.0) / 100.0;
        if (cp.leaf_a_mm[row] - cp.leaf_b_mm[row] < gap)
          cp.leaf_b_mm[row] = cp.leaf_a_mm[row] - gap;
        amin = std::min(amin, cp.leaf_a_mm[row]);
        amax = std::max(amax, cp.leaf_a_mm[row]);
        bmin = std::min(bmin, cp.leaf_b_mm[row]);
        bmax = std::max(bmax, cp.leaf_b_mm[row]);
      }
      // Leaf pairs outside the jaws (dosimetrically closed by them): each bank within its span
      // of the active leaves, near the field's centre, at least the minimum gap apart.
      const double centre = 0.5 * (arc.jaws.x1_mm + arc.jaws.x2_mm);
      const double a_lo = amax - span + 0.05;
      const double a_hi = amin + span - 0.05;
      const double b_lo = bmax - span + 0.05;
      const double b_hi = bmin + span - 0.05;
      double pa = std::clamp(centre + 0.5 * gap, a_lo, std::max(a_lo, a_hi));
      double pb = std::clamp(centre - 0.5 * gap, b_lo, std::max(b_lo, b_hi));
      if (pa - pb < gap) {
        if (pb - gap >= b_lo) {
          pb = pa - gap;
        } else {
          pa = pb + gap;
        }
      }
      for (int row = 0; row < pairs; ++row) {
        if (row >= arc.first_row && row < arc.first_row + arc.rows) continue;
        cp.leaf_a_mm[static_cast<std::size_t>(row)] = std::ceil(pa * 100.0) / 100.0;
        cp.leaf_b_mm[static_cast<std::size_t>(row)] = std::floor(pb * 100.0) / 100.0;
      }
      beam.control_points.push_back(std::move(cp));
    }
    plan.beams.push_back(std::move(beam));
  }
  return plan;
}

}  // namespace linac::planning
