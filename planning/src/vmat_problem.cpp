// The VMAT problem's construction (vmat_problem.hpp): the structures and optimisation points on
// the dose grid, the arcs with their conformal apertures and beamlet matrices, the objective
// terms, the starting point and the bounds of the DAO's variables.
#include "vmat_problem.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>

#include "linac/core/distance_map.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double angle_of(const ArcSpec& a, int i, double step) {
  const double sign = a.direction == RotationDirection::kCounterClockwise ? -1.0 : 1.0;
  return iec::normalize_angle_deg(a.start_deg + sign * step * i);
}

/// Voxels of `m` with a face-neighbour inside `body` but outside `m` (ascending indices).
std::vector<std::size_t> border_voxels(const Mask& m, const Mask& body) {
  std::vector<std::size_t> out;
  const auto d = m.grid().dims;
  for (std::int64_t k = 0; k < d[2]; ++k) {
    for (std::int64_t j = 0; j < d[1]; ++j) {
      for (std::int64_t i = 0; i < d[0]; ++i) {
        if (m.at(i, j, k) == 0) continue;
        bool border = false;
        for (const auto& o : {Index3{1, 0, 0}, Index3{-1, 0, 0}, Index3{0, 1, 0}, Index3{0, -1, 0},
                              Index3{0, 0, 1}, Index3{0, 0, -1}}) {
          const Index3 q{i + o[0], j + o[1], k + o[2]};
          if (!m.grid().contains(q[0], q[1], q[2])) continue;
          if (m.at(q[0], q[1], q[2]) == 0 && body.at(q[0], q[1], q[2]) != 0) border = true;
        }
        if (border) out.push_back(m.grid().linear_index(i, j, k));
      }
    }
  }
  return out;
}

}  // namespace

void VmatPlanner::Impl::build(const Case& c, const BeamModel& model) {
  const auto t0 = Clock::now();
  const Structure& body = c.get("body");
  const Structure& target = c.get(options.target);
  if (count_voxels(target.mask) == 0) throw InputError(options.target, "the target is empty");
  if (!(options.control_point_spacing_deg >= 0.5 && options.control_point_spacing_deg <= 10.0)) {
    throw InputError("control point spacing", "must lie in [0.5, 10] degrees");
  }
  if (options.arcs.empty()) throw InputError("arcs", "no arcs to plan");
  engine =
      std::make_unique<DoseEngine>(model, profile.mlc.leaf_boundaries_mm, c.ct, c.patient_position);
  isocentre = treatment_isocentre_mm(c);
  grid = planning::dose_grid(body.mask, options.dose_grid_mm);
  for (const auto& s : c.structures) {
    on_grid.push_back(
        {s.name, s.role, resample(s.mask, grid, Interpolation::kNearest, std::uint8_t{0})});
  }
  on_grid.reserve(on_grid.size() + 3);  // references below stay valid
  const Mask& body_g = *mask("body");
  const Mask& target_g = *mask(options.target);
  // Rings around the target for the dose fall-off.
  const Mask near10 = expand_mm(target_g, 10.0);
  const Mask near30 = expand_mm(target_g, 30.0);
  Mask ring10(grid, 0);
  Mask ring30(grid, 0);
  for (std::size_t n = 0; n < body_g.size(); ++n) {
    ring10[n] = (body_g[n] != 0 && near10[n] == 0) ? 1 : 0;
    ring30[n] = (body_g[n] != 0 && near30[n] == 0) ? 1 : 0;
  }
  Mask eval;
  if (options.skin_margin_mm > 0.0) {
    const Volume<float> depth = signed_distance_map_mm(body_g);  // < 0 inside
    eval = Mask(grid, 0);
    for (std::size_t n = 0; n < eval.size(); ++n) {
      eval[n] =
          (target_g[n] != 0 && static_cast<double>(depth[n]) <= -options.skin_margin_mm) ? 1 : 0;
    }
    if (count_voxels(eval) == 0)
      throw InputError(options.target, "nothing left of it under the skin margin");
  }
  on_grid.push_back({"ring_10mm", "optimisation", std::move(ring10)});
  on_grid.push_back({"ring_30mm", "optimisation", std::move(ring30)});
  if (options.skin_margin_mm > 0.0) {
    on_grid.push_back({options.evaluation_target(), "target", std::move(eval)});
  }
  body_points = mask_points(body_g, &body_index);
  // Optimisation points: a seeded random sample of each structure's voxels, shared where
  // structures overlap.
  Rng rng(options.seed);
  std::map<std::size_t, int> id_of;
  std::vector<std::string> names;
  for (const auto& o : default_objectives(options)) names.push_back(o.structure);
  for (const auto& o : options.objectives) names.push_back(o.structure);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (const auto& name : names) {
    const Mask* m = mask(name);
    if (m == nullptr) continue;
    std::vector<std::size_t> voxels;
    for (std::size_t n = 0; n < m->size(); ++n) {
      if ((*m)[n] != 0 && body_g[n] != 0) voxels.push_back(n);
    }
    // Partial Fisher-Yates: the first k of a random permutation.
    const std::size_t k = std::min(voxels.size(), options.points_per_structure);
    for (std::size_t i = 0; i < k; ++i) {
      const auto j =
          i + static_cast<std::size_t>(rng.uniform() * static_cast<double>(voxels.size() - i));
      std::swap(voxels[i], voxels[std::min(j, voxels.size() - 1)]);
    }
    const std::vector<std::size_t> sample(voxels.begin(),
                                          voxels.begin() + static_cast<std::ptrdiff_t>(k));
    std::vector<std::size_t> chosen = sample;  // and the target's border, once each
    if (options.target_border_points &&
        (name == options.target || name == options.evaluation_target())) {
      const auto border = border_voxels(*m, body_g);
      chosen.insert(chosen.end(), border.begin(), border.end());
      std::sort(chosen.begin(), chosen.end());
      chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
    }
    auto& ids = members[name];
    for (const std::size_t n : chosen) {
      auto [it, inserted] = id_of.emplace(n, static_cast<int>(opt_points.size()));
      if (inserted) {
        const auto ijk = grid.index_of(n);
        opt_points.push_back(grid.index_to_world_mm(Eigen::Vector3d(static_cast<double>(ijk[0]),
                                                                    static_cast<double>(ijk[1]),
                                                                    static_cast<double>(ijk[2])))
                                 .cast<float>());
      }
      ids.push_back(it->second);
    }
    if (name == options.evaluation_target()) {
      for (const std::size_t n : sample) target_sample.push_back(id_of.at(n));
    }
  }
  say("optimisation points: " + std::to_string(opt_points.size()) + " in " +
      std::to_string(members.size()) + " structures; dose grid " + std::to_string(grid.dims[0]) +
      " x " + std::to_string(grid.dims[1]) + " x " + std::to_string(grid.dims[2]) + " at " +
      format_number(options.dose_grid_mm) + " mm");
  build_arcs(target_g);
  matrix_seconds = seconds_since(t0);
}

Arc VmatPlanner::Impl::make_arc(const ArcSpec& spec, const Points& target_points) const {
  const auto& b = profile.mlc.leaf_boundaries_mm;
  const int pairs = profile.mlc.leaf_pairs;
  Arc arc;
  arc.spec = spec;
  double length = spec.direction == RotationDirection::kCounterClockwise
                      ? spec.start_deg - spec.stop_deg
                      : spec.stop_deg - spec.start_deg;
  length = iec::normalize_angle_deg(length);
  if (length < 1e-6) length = 360.0;
  const int n =
      std::max(2, static_cast<int>(std::lround(length / options.control_point_spacing_deg)) + 1);
  arc.spacing_deg = length / (n - 1);
  for (int i = 0; i < n; ++i) arc.gantry_deg.push_back(angle_of(spec, i, arc.spacing_deg));
  for (int i = 0; i < n; ++i) {
    arc.geometry.emplace_back(arc.gantry_deg[static_cast<std::size_t>(i)], spec.collimator_deg,
                              isocentre, engine->position(), profile.source_axis_distance_mm);
  }
  // Target's beam's-eye view: the jaws (union over the arc) and the conformal apertures.
  std::vector<std::vector<double>> lo(static_cast<std::size_t>(n),
                                      std::vector<double>(static_cast<std::size_t>(pairs), 1e9));
  std::vector<std::vector<double>> hi(static_cast<std::size_t>(n),
                                      std::vector<double>(static_cast<std::size_t>(pairs), -1e9));
  double u0 = 1e9, u1 = -1e9, v0 = 1e9, v1 = -1e9;
#pragma omp parallel for schedule(dynamic) reduction(min : u0, v0) reduction(max : u1, v1)
  for (int i = 0; i < n; ++i) {
    auto& l = lo[static_cast<std::size_t>(i)];
    auto& h = hi[static_cast<std::size_t>(i)];
    for (const auto& p : target_points) {
      const auto bev = arc.geometry[static_cast<std::size_t>(i)].project(p.cast<double>());
      u0 = std::min(u0, bev.u_mm);
      u1 = std::max(u1, bev.u_mm);
      v0 = std::min(v0, bev.v_mm);
      v1 = std::max(v1, bev.v_mm);
      const auto it = std::upper_bound(b.begin(), b.end(), bev.v_mm);
      const int row = static_cast<int>(it - b.begin()) - 1;
      if (row < 0 || row >= pairs) continue;
      l[static_cast<std::size_t>(row)] = std::min(l[static_cast<std::size_t>(row)], bev.u_mm);
      h[static_cast<std::size_t>(row)] = std::max(h[static_cast<std::size_t>(row)], bev.u_mm);
    }
  }
  const auto& jp = profile.jaws;
  const double m = options.jaw_margin_mm;
  if (spec.x_jaws != ArcSpec::XJaws::kFull) {  // split: half the target's extent along u
    const double mid = 0.5 * (u0 + u1);
    (spec.x_jaws == ArcSpec::XJaws::kX1Half ? u1 : u0) = mid;
  }
  arc.jaws.x1_mm = std::clamp(std::floor(u0 - m), -jp.x_max_open_mm, jp.x_max_overtravel_mm);
  arc.jaws.x2_mm = std::clamp(std::ceil(u1 + m), -jp.x_max_overtravel_mm, jp.x_max_open_mm);
  arc.jaws.y1_mm = std::clamp(std::floor(v0 - m), -jp.y_max_open_mm, jp.y_max_overtravel_mm);
  arc.jaws.y2_mm = std::clamp(std::ceil(v1 + m), -jp.y_max_overtravel_mm, jp.y_max_open_mm);
  arc.first_row = -1;
  for (int r = 0; r < pairs; ++r) {
    if (std::min(b[static_cast<std::size_t>(r) + 1], arc.jaws.y2_mm) -
            std::max(b[static_cast<std::size_t>(r)], arc.jaws.y1_mm) >
        1e-9) {
      if (arc.first_row < 0) arc.first_row = r;
      arc.rows = r - arc.first_row + 1;
    }
  }
  for (int i = 0; i < n; ++i) {
    std::vector<double> l, h;
    for (int r = 0; r < arc.rows; ++r) {  // the target within the jaws (a split arc's half)
      const auto row = arc.row_index(r);
      l.push_back(std::max(lo[static_cast<std::size_t>(i)][row], arc.jaws.x1_mm + m));
      h.push_back(std::min(hi[static_cast<std::size_t>(i)][row], arc.jaws.x2_mm - m));
    }
    arc.init_lo.push_back(std::move(l));
    arc.init_hi.push_back(std::move(h));
  }
  arc.matrices.resize(static_cast<std::size_t>(n));
  arc.prepared.resize(static_cast<std::size_t>(n));
  return arc;
}

std::vector<std::vector<std::pair<std::size_t, std::size_t>>>
VmatPlanner::Impl::group_control_points() {
  // The control points of all arcs at one gantry angle share one ray trace (split arcs and arcs
  // at other collimator angles pass the same angles).
  std::map<long long, std::vector<std::pair<std::size_t, std::size_t>>> at_gantry;
  for (std::size_t k = 0; k < arcs.size(); ++k) {
    for (std::size_t i = 0; i < arcs[k].gantry_deg.size(); ++i) {
      at_gantry[std::llround(arcs[k].gantry_deg[i] * 1e6)].emplace_back(k, i);
    }
  }
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> groups;
  for (auto& [key, group] : at_gantry) groups.push_back(std::move(group));
  // Within each, the control points at one collimator angle: one direction.
  directions.clear();
  for (const auto& group : groups) {
    std::map<long long, std::size_t> at_collimator;
    for (const auto& [k, i] : group) {
      const auto key = std::llround(arcs[k].spec.collimator_deg * 1e6);
      const auto [it, added] = at_collimator.emplace(key, directions.size());
      if (added) directions.emplace_back();
      directions[it->second].emplace_back(static_cast<int>(k), static_cast<int>(i));
    }
  }
  return groups;
}

void VmatPlanner::Impl::build_arcs(const Mask& target) {
  const Points target_points = mask_points(target);
  int offset = 0;
  for (const auto& spec : options.arcs) {
    Arc arc = make_arc(spec, target_points);
    const int n = arc.cps();
    arc.segment_offset = offset;
    offset += n - 1;
    arc.leaf_offset = offset;
    offset += 2 * n * arc.rows;
    arcs.push_back(std::move(arc));
  }
  variables = offset;
  // Beamlet matrices, one per control point, in parallel, each gantry angle's traced once.
  std::size_t total = 0;
  for (auto& arc : arcs) total += arc.matrices.size();
  say("beamlets: " + std::to_string(total) + " control points, " +
      format_number(options.beamlet_width_mm) + " mm x leaf width");
  const auto groups = group_control_points();
#pragma omp parallel for schedule(dynamic)
  for (std::size_t n = 0; n < groups.size(); ++n) {
    const auto& group = groups[n];
    std::vector<std::pair<double, Aperture>> fields;
    for (const auto& [k, i] : group) fields.emplace_back(arcs[k].spec.collimator_deg, arcs[k].jaws);
    auto prepared = engine->prepare_at_gantry(
        arcs[group.front().first].gantry_deg[group.front().second], fields, isocentre, opt_points);
    for (std::size_t m = 0; m < group.size(); ++m) {
      auto& arc = arcs[group[m].first];
      const auto i = group[m].second;
      arc.prepared[i] = std::move(prepared[m]);
      arc.matrices[i] = engine->beamlet_matrix(arc.prepared[i], arc.jaws, options.beamlet_width_mm,
                                               options.beamlet_cutoff_mm);
    }
  }
  for (const auto& arc : arcs) {
    for (const auto& m : arc.matrices) {
      nonzeros += m.dose_per_mu.nonZeros();
      matrix_bytes += m.dose_per_mu.bytes();
    }
  }
}

std::vector<Term> VmatPlanner::Impl::terms(bool spare) const {
  VmatOptions o = options;
  if (!spare) o.spared_weight = 0.0;
  std::vector<Objective> objectives = o.objectives.empty() ? default_objectives(o) : o.objectives;
  if (!spare) {  // the baseline: every term of the spared structure removed
    objectives.erase(std::remove_if(objectives.begin(), objectives.end(),
                                    [&](const Objective& ob) { return ob.structure == o.spared; }),
                     objectives.end());
  }
  std::vector<Term> t;
  for (const auto& ob : objectives) {
    const auto it = members.find(ob.structure);
    if (it == members.end() || it->second.empty()) continue;
    t.push_back({ob, it->second});
  }
  return t;
}

std::vector<double> VmatPlanner::Impl::initial(double mu_per_segment) const {
  std::vector<double> x(static_cast<std::size_t>(variables), 0.0);
  const double gap = profile.mlc.min_dynamic_gap_mm;
  for (const auto& arc : arcs) {
    for (int s = 0; s + 1 < arc.cps(); ++s) x[arc.seg(s)] = mu_per_segment;
    const double centre = 0.5 * (arc.jaws.x1_mm + arc.jaws.x2_mm);
    for (int i = 0; i < arc.cps(); ++i) {
      for (int r = 0; r < arc.rows; ++r) {
        double lo = arc.init_lo[static_cast<std::size_t>(i)][static_cast<std::size_t>(r)];
        double hi = arc.init_hi[static_cast<std::size_t>(i)][static_cast<std::size_t>(r)];
        if (hi < lo) {
          lo = centre - gap;  // no target in this row: closed
          hi = centre + gap;
        }
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        x[k] = 0.5 * (lo + hi) / kLeafScale;
        x[k + 1] = std::max(0.5 * (hi - lo), gap) / kLeafScale;
      }
    }
  }
  return x;
}

void VmatPlanner::Impl::bounds(std::vector<double>& lo, std::vector<double>& hi) const {
  lo.assign(static_cast<std::size_t>(variables), 0.0);
  hi.assign(static_cast<std::size_t>(variables), 0.0);
  const double gap = profile.mlc.min_dynamic_gap_mm;
  for (const auto& arc : arcs) {
    for (int s = 0; s + 1 < arc.cps(); ++s) {
      // Inside the MU-per-degree limits: 10 % above the minimum, 25 % below the maximum (room
      // for the final normalisation).
      lo[arc.seg(s)] = 1.1 * profile.dose.min_mu_per_deg * arc.spacing_deg;
      hi[arc.seg(s)] = 0.75 * profile.dose.max_mu_per_deg * arc.spacing_deg;
    }
    const double width = arc.jaws.x2_mm - arc.jaws.x1_mm;
    for (int i = 0; i < arc.cps(); ++i) {
      for (int r = 0; r < arc.rows; ++r) {
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        lo[k] = arc.jaws.x1_mm / kLeafScale;
        hi[k] = arc.jaws.x2_mm / kLeafScale;
        lo[k + 1] = 0.5 * gap / kLeafScale + 1e-4;
        hi[k + 1] = 0.5 * width / kLeafScale;
      }
    }
  }
}

}  // namespace linac::planning
