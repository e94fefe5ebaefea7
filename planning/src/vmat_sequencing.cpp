// Holding the optimised apertures to the machine (project) and writing them as a plan
// (make_plan): leaf travel per control point, bank span, minimum gap, jaws, and the leaf pairs
// outside the jaws parked within the span.
#include <algorithm>
#include <cmath>

#include "vmat_problem.hpp"

namespace linac::planning {

namespace {

/// Reversals of one leaf's trajectory (positions at successive control points, mm) blunted so
/// that its two moves either side of a turn add up to at most `limit_mm`: the turning point is
/// drawn towards the nearer of its neighbours. Returns whether anything moved.
bool blunt_reversals(std::vector<double>& x, double limit_mm) {
  bool moved = false;
  for (std::size_t i = 1; i + 1 < x.size(); ++i) {
    const double d1 = x[i] - x[i - 1];
    const double d2 = x[i + 1] - x[i];
    if (!(d1 * d2 < 0.0) || std::abs(d1) + std::abs(d2) <= limit_mm) continue;
    const double spread = std::abs(x[i + 1] - x[i - 1]);
    const double room = 0.5 * std::max(0.0, limit_mm - spread);
    x[i] = d1 > 0.0 ? std::max(x[i - 1], x[i + 1]) + room : std::min(x[i - 1], x[i + 1]) - room;
    moved = true;
  }
  return moved;
}

}  // namespace

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
    limit_reversals(arc, x);
  }
}

void VmatPlanner::Impl::limit_reversals(const Arc& arc, std::vector<double>& x) const {
  // A leaf that reverses changes its speed by the sum of its speeds either side; beyond what the
  // MLC's acceleration makes up within the position tolerance (Δv² / 2a, the validator's lag)
  // the leaf-deviation interlock holds the beam. With the gantry at full speed (the shortest
  // segments) the two moves either side of a turn may then add up to at most
  // sqrt(2 a 0.9 tol) x spacing / gantry speed (12.5 mm at 2° on the Clinac). Turning points
  // beyond it are blunted, then the minimum gap restored by opening the pair about its middle.
  const auto& mlc = profile.mlc;
  if (!(mlc.max_leaf_acceleration_mm_per_s2 > 0.0)) return;
  const double limit_mm =
      std::sqrt(2.0 * mlc.max_leaf_acceleration_mm_per_s2 * 0.9 * mlc.position_tolerance_mm) *
      arc.spacing_deg / profile.gantry.max_speed_deg_per_s;
  const double gap = mlc.min_dynamic_gap_mm + 0.05;
  const int n = arc.cps();
  std::vector<double> a(static_cast<std::size_t>(n));
  std::vector<double> b(static_cast<std::size_t>(n));
  for (int r = 0; r < arc.rows; ++r) {
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
      a[static_cast<std::size_t>(i)] = (x[k] + x[k + 1]) * kLeafScale;
      b[static_cast<std::size_t>(i)] = (x[k] - x[k + 1]) * kLeafScale;
    }
    for (int pass = 0; pass < 20; ++pass) {
      const bool moved_a = blunt_reversals(a, limit_mm);
      const bool moved_b = blunt_reversals(b, limit_mm);
      if (!moved_a && !moved_b) break;
      for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i] - b[i] < gap) {
          const double mid = 0.5 * (a[i] + b[i]);
          a[i] = mid + 0.5 * gap;
          b[i] = mid - 0.5 * gap;
        }
      }
    }
    for (int i = 0; i < n; ++i) {
      const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
      x[k] = 0.5 * (a[static_cast<std::size_t>(i)] + b[static_cast<std::size_t>(i)]) / kLeafScale;
      x[k + 1] =
          0.5 * (a[static_cast<std::size_t>(i)] - b[static_cast<std::size_t>(i)]) / kLeafScale;
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
