// A plan's dose: its control points' MU and apertures, and the ray traces they share. Control
// points at one gantry angle (of one plan's arcs at several collimator angles and X jaws, or of
// a plan and its baseline) are traced once over their jaws' union; each one's beam's-eye view
// is that trace turned to its collimator angle (ADR 0009, "plan and baseline in 150 s").
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "linac/core/iec61217.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::planning {

std::vector<double> control_point_mu(const Beam& beam) {
  const auto& cps = beam.control_points;
  std::vector<double> mu(cps.size(), 0.0);
  if (cps.size() < 2) return mu;
  const double final_weight = cps.back().cumulative_meterset_weight;
  if (!(final_weight > 0.0)) return mu;
  for (std::size_t i = 0; i + 1 < cps.size(); ++i) {
    const double seg = beam.meterset_mu *
                       (cps[i + 1].cumulative_meterset_weight - cps[i].cumulative_meterset_weight) /
                       final_weight;
    mu[i] += 0.5 * seg;
    mu[i + 1] += 0.5 * seg;
  }
  return mu;
}

Aperture aperture_of(const ControlPoint& cp) {
  Aperture a;
  a.x1_mm = cp.jaw_x1_mm;
  a.x2_mm = cp.jaw_x2_mm;
  a.y1_mm = cp.jaw_y1_mm;
  a.y2_mm = cp.jaw_y2_mm;
  a.leaf_a_mm = cp.leaf_a_mm;
  a.leaf_b_mm = cp.leaf_b_mm;
  return a;
}

std::vector<float> DoseEngine::plan_dose(const Plan& plan, const Eigen::Vector3d& isocentre_mm,
                                         const Points& points) const {
  return std::move(plan_doses({&plan}, isocentre_mm, points).front());
}

namespace {

/// The in-plane rotation taking beam's-eye-view coordinates at collimator `from_deg` to those at
/// `to_deg` (same gantry angle): the collimator turns the beam-limiting device's frame about
/// the beam axis, so u and v rotate and r and the depths stay.
Eigen::Matrix2d collimator_turn(double from_deg, double to_deg) {
  const Eigen::Matrix3d r = iec::collimator_to_gantry(to_deg).rotation().transpose() *
                            iec::collimator_to_gantry(from_deg).rotation();
  return r.topLeftCorner<2, 2>();
}

}  // namespace

Aperture jaws_union(const std::vector<std::pair<double, Aperture>>& fields) {
  if (fields.empty()) return {};
  const double frame_deg = fields.front().first;
  Aperture u = fields.front().second;
  u.leaf_a_mm.clear();
  u.leaf_b_mm.clear();
  for (const auto& [collimator_deg, a] : fields) {  // each field's jaw corners in the frame
    const Eigen::Matrix2d to_frame = collimator_turn(collimator_deg, frame_deg);
    for (const double x : {a.x1_mm, a.x2_mm}) {
      for (const double y : {a.y1_mm, a.y2_mm}) {
        const Eigen::Vector2d q = to_frame * Eigen::Vector2d(x, y);
        u.x1_mm = std::min(u.x1_mm, q.x());
        u.x2_mm = std::max(u.x2_mm, q.x());
        u.y1_mm = std::min(u.y1_mm, q.y());
        u.y2_mm = std::max(u.y2_mm, q.y());
      }
    }
  }
  return u;
}

void turn_collimator(const PreparedPoints& from, double from_deg, double to_deg,
                     PreparedPoints& out) {
  const Eigen::Matrix2d r = collimator_turn(from_deg, to_deg);
  out = from;
  for (std::size_t n = 0; n < from.size(); ++n) {
    const double u = static_cast<double>(from.u_mm[n]);
    const double v = static_cast<double>(from.v_mm[n]);
    out.u_mm[n] = static_cast<float>(r(0, 0) * u + r(0, 1) * v);
    out.v_mm[n] = static_cast<float>(r(1, 0) * u + r(1, 1) * v);
  }
}

std::vector<PreparedPoints> DoseEngine::prepare_at_gantry(
    double gantry_deg, const std::vector<std::pair<double, Aperture>>& fields,
    const Eigen::Vector3d& isocentre_mm, const Points& points) const {
  std::vector<PreparedPoints> out(fields.size());
  if (fields.empty()) return out;
  const double c0 = fields.front().first;
  prepare(BeamGeometry(gantry_deg, c0, isocentre_mm, position_, model_.sad_mm), jaws_union(fields),
          points, out.front());
  for (std::size_t k = 1; k < fields.size(); ++k) {
    turn_collimator(out.front(), c0, fields[k].first, out[k]);
  }
  return out;
}

std::vector<std::vector<float>> DoseEngine::plan_doses(const std::vector<const Plan*>& plans,
                                                       const Eigen::Vector3d& isocentre_mm,
                                                       const Points& points) const {
  if (std::any_of(plans.begin(), plans.end(), [](const Plan* p) { return p == nullptr; })) {
    throw std::invalid_argument("plan_doses: a plan is missing (null)");
  }
  // The control points of every plan grouped by gantry angle: one ray trace (the depth field
  // and the points' projection) per group, in the frame of its first member's collimator over
  // the union of the members' jaws; a member at another collimator angle takes those
  // beam's-eye views rotated. A plan's arcs at several collimator angles, and a plan and its
  // baseline on the same arcs, share their ray tracing.
  struct Member {
    std::size_t plan;
    const ControlPoint* cp;
    double mu;
  };
  std::vector<std::vector<Member>> groups;
  std::map<long long, std::size_t> group_of;  // gantry angle in micro-degrees -> group
  for (std::size_t k = 0; k < plans.size(); ++k) {
    for (const auto& beam : plans[k]->beams) {
      const auto mu = control_point_mu(beam);
      for (std::size_t i = 0; i < mu.size(); ++i) {
        if (!(mu[i] > 0.0)) continue;
        const ControlPoint& cp = beam.control_points[i];
        const auto key = std::llround(cp.gantry_deg * 1e6);
        const auto [it, added] = group_of.emplace(key, groups.size());
        if (added) groups.emplace_back();
        groups[it->second].push_back({k, &cp, mu[i]});
      }
    }
  }
  for (auto& group : groups) {  // members at one collimator angle one after another
    const double c0 = group.front().cp->collimator_deg;
    auto key = [c0](const Member& m) {
      return std::pair(m.cp->collimator_deg != c0, m.cp->collimator_deg);
    };
    std::stable_sort(group.begin(), group.end(),
                     [&key](const Member& x, const Member& y) { return key(x) < key(y); });
  }
  std::vector<std::vector<float>> doses(plans.size(), std::vector<float>(points.size(), 0.0F));
  // Each thread's doses, added in thread order after the loop (as ThreadPartials does, per plan):
  // the same sums every run for a given number of threads.
  std::vector<std::vector<std::vector<float>>> per_thread(
      static_cast<std::size_t>(omp_get_max_threads()));
#pragma omp parallel
  {
    auto& local = per_thread[static_cast<std::size_t>(omp_get_thread_num())];
    local.assign(plans.size(), std::vector<float>(points.size(), 0.0F));
    PreparedPoints traced;
    PreparedPoints turned;
#pragma omp for schedule(static, 1)
    for (std::size_t k = 0; k < groups.size(); ++k) {
      const auto& group = groups[k];
      const ControlPoint& first = *group.front().cp;
      const double c0 = first.collimator_deg;
      std::vector<std::pair<double, Aperture>> fields;
      for (const Member& m : group) fields.emplace_back(m.cp->collimator_deg, aperture_of(*m.cp));
      prepare(BeamGeometry(first.gantry_deg, c0, isocentre_mm, position_, model_.sad_mm),
              jaws_union(fields), points, traced);
      // Each plan's apertures at one collimator angle (the members of a run) in one fluence
      // map (add_apertures_dose): split arcs at one collimator angle cost one look-up per point.
      double turned_deg = c0;
      for (std::size_t begin = 0; begin < group.size();) {
        const double c = group[begin].cp->collimator_deg;
        std::size_t end = begin;
        while (end < group.size() && group[end].cp->collimator_deg == c) ++end;
        if (c != c0 && c != turned_deg) {
          turn_collimator(traced, c0, c, turned);
          turned_deg = c;
        }
        for (std::size_t plan = 0; plan < plans.size(); ++plan) {
          std::vector<std::pair<Aperture, double>> apertures;
          for (std::size_t n = begin; n < end; ++n) {
            if (group[n].plan == plan)
              apertures.emplace_back(aperture_of(*group[n].cp), group[n].mu);
          }
          add_apertures_dose(c == c0 ? traced : turned, apertures, local[plan]);
        }
        begin = end;
      }
    }
  }
  for (const auto& local : per_thread) {
    for (std::size_t k = 0; k < local.size(); ++k) {
      for (std::size_t n = 0; n < points.size(); ++n) doses[k][n] += local[k][n];
    }
  }
  return doses;
}

}  // namespace linac::planning
