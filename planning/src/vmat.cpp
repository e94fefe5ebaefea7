#include "linac/planning/vmat.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <nlopt.hpp>
#include <numeric>

#include "linac/core/distance_map.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/random.hpp"
#include "linac/core/resample.hpp"
#include "linac/core/text.hpp"
#include "thread_partials.hpp"
#include "vmat_problem.hpp"

namespace linac::planning {

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

void VmatPlanner::Impl::forward(const std::vector<double>& x, const Correction& correction,
                                std::vector<double>& dose) const {
  const std::size_t np = opt_points.size();
  dose.assign(np, 0.0);
  for (const auto& arc : arcs) {
    const int n = arc.cps();
    ThreadPartials<double> partials(np);
#pragma omp parallel
    {
      std::vector<double>& local = partials.mine();
      Eigen::VectorXf f;
#pragma omp for schedule(static, 1)
      for (int i = 0; i < n; ++i) {
        const auto& m = arc.matrices[static_cast<std::size_t>(i)];
        double w = 0.0;
        if (i > 0) w += 0.5 * x[arc.seg(i - 1)];
        if (i + 1 < n) w += 0.5 * x[arc.seg(i)];
        open_fluence(arc, i, x, w, f);
        m.dose_per_mu.add_product(f.data(), local.data());
      }
    }
    partials.add_to(dose);
  }
  for (std::size_t p = 0; p < np; ++p) dose[p] = correction.at(p, dose[p]);
}

double VmatPlanner::Impl::mu_smoothness(const std::vector<double>& x,
                                        std::vector<double>& grad) const {
  const double w = options.mu_smoothness_weight;
  if (!(w > 0.0)) return 0.0;
  std::size_t pairs = 0;
  for (const auto& arc : arcs) pairs += static_cast<std::size_t>(std::max(0, arc.cps() - 2));
  if (pairs == 0) return 0.0;
  const double c = w / static_cast<double>(pairs);
  double f = 0.0;
  for (const auto& arc : arcs) {
    for (int s = 0; s + 2 < arc.cps(); ++s) {
      const double m0 = x[arc.seg(s)];
      const double m1 = x[arc.seg(s + 1)];
      if (!(m0 > 0.0 && m1 > 0.0)) continue;  // the bounds keep segments above the MU floor
      const double step = std::log(m1 / m0);
      f += c * step * step;
      grad[arc.seg(s + 1)] += 2.0 * c * step / m1;
      grad[arc.seg(s)] -= 2.0 * c * step / m0;
    }
  }
  return f;
}

double VmatPlanner::Impl::evaluate(const std::vector<double>& x, std::vector<double>& grad,
                                   const std::vector<Term>& t, const Correction& correction,
                                   bool leaves_fixed) const {
  std::vector<double> dose;
  forward(x, correction, dose);
  const double rx = rx_fraction();
  // Objective and its gradient with respect to the dose at each point.
  std::vector<double> g;
  double f = objective_terms(t, dose, rx, g);
  std::vector<double> scratch;
  if (grad.empty()) scratch.assign(x.size(), 0.0);  // the penalties need somewhere to write
  std::vector<double>& out = grad.empty() ? scratch : grad;
  std::fill(out.begin(), out.end(), 0.0);
  f += mu_smoothness(x, out);
  if (!correction.scale.empty()) {  // d(dose)/d(matrix dose) = scale
    for (std::size_t p = 0; p < g.size(); ++p) g[p] *= static_cast<double>(correction.scale[p]);
  }
  const Eigen::Map<const Eigen::VectorXd> gd(g.data(), static_cast<Eigen::Index>(g.size()));
  const Eigen::VectorXf gf = gd.cast<float>();
  const double tr = profile.mlc.transmission;
  const double half_dlg = 0.5 * profile.mlc.dosimetric_leaf_gap_mm;
  for (const auto& arc : arcs) {
    const int n = arc.cps();
    std::vector<double> dw(static_cast<std::size_t>(n), 0.0);  // dF / d(weight of CP i)
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; ++i) {
      const auto& m = arc.matrices[static_cast<std::size_t>(i)];
      const auto& L = m.layout;
      const Eigen::VectorXf h = m.dose_per_mu.transpose_times(gf);  // dF / d(fluence of beamlet)
      double w = 0.0;
      if (i > 0) w += 0.5 * x[arc.seg(i - 1)];
      if (i + 1 < n) w += 0.5 * x[arc.seg(i)];
      double sum = 0.0;
      for (int r = 0; r < L.rows; ++r) {
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        const double a = (x[k] + x[k + 1]) * kLeafScale + half_dlg;
        const double bb = (x[k] - x[k + 1]) * kLeafScale - half_dlg;
        double da = 0.0;
        double db = 0.0;
        for (int c = 0; c < L.columns; ++c) {
          const double lo = L.column_lo(c);
          const double hi = L.column_hi(c);
          const double hc = static_cast<double>(h[r * L.columns + c]);
          const double open = std::max(0.0, std::min(a, hi) - std::max(bb, lo)) / (hi - lo);
          sum += hc * (tr + (1.0 - tr) * open);
          if (a > bb) {
            if (a > lo && a < hi && bb < a) da += hc * (1.0 - tr) / (hi - lo);
            if (bb > lo && bb < hi) db -= hc * (1.0 - tr) / (hi - lo);
          }
        }
        if (!leaves_fixed) {
          out[k] = w * (da + db) * kLeafScale;
          out[k + 1] = w * (da - db) * kLeafScale;
        }
      }
      dw[static_cast<std::size_t>(i)] = sum;
    }
    for (int s = 0; s + 1 < n; ++s) {
      out[arc.seg(s)] +=
          0.5 * (dw[static_cast<std::size_t>(s)] + dw[static_cast<std::size_t>(s) + 1]);
    }
  }
  if (leaves_fixed) return f;
  // Leaf travel between control points and bank span as quadratic penalties (mm).
  const double speed = profile.mlc.max_leaf_speed_mm_per_s;
  const double gantry = profile.gantry.max_speed_deg_per_s;
  const double span = profile.mlc.max_bank_span_mm - 2.0;
  const double coef = 1e-3;  // objective units per mm^2 of excess
  for (const auto& arc : arcs) {
    const double travel = options.leaf_travel_fraction * speed * arc.spacing_deg / gantry - 0.5;
    for (int i = 0; i < arc.cps(); ++i) {
      for (int r = 0; r < arc.rows; ++r) {
        const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
        const double a = (x[k] + x[k + 1]) * kLeafScale;
        const double bb = (x[k] - x[k + 1]) * kLeafScale;
        if (i + 1 < arc.cps()) {
          const auto k2 = static_cast<std::size_t>(arc.leaf_var(i + 1, r));
          const double a2 = (x[k2] + x[k2 + 1]) * kLeafScale;
          const double b2 = (x[k2] - x[k2 + 1]) * kLeafScale;
          for (int side = 0; side < 2; ++side) {
            const double delta = side == 0 ? a2 - a : b2 - bb;
            const double excess = std::abs(delta) - travel;
            if (excess <= 0.0) continue;
            f += coef * excess * excess;
            const double dd = 2.0 * coef * excess * (delta > 0 ? 1.0 : -1.0) * kLeafScale;
            const double sh = side == 0 ? 1.0 : -1.0;  // d(leaf)/d(half opening)
            out[k2] += dd;
            out[k2 + 1] += sh * dd;
            out[k] -= dd;
            out[k + 1] -= sh * dd;
          }
        }
      }
      // Span: every pair of leaves of one bank within the carriage's reach.
      for (int side = 0; side < 2; ++side) {
        int rmin = 0;
        int rmax = 0;
        double vmin = 1e9;
        double vmax = -1e9;
        for (int r = 0; r < arc.rows; ++r) {
          const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
          const double v = (side == 0 ? x[k] + x[k + 1] : x[k] - x[k + 1]) * kLeafScale;
          if (v < vmin) vmin = v, rmin = r;
          if (v > vmax) vmax = v, rmax = r;
        }
        const double excess = vmax - vmin - span;
        if (excess <= 0.0) continue;
        f += coef * excess * excess;
        const double dd = 2.0 * coef * excess * kLeafScale;
        const double sh = side == 0 ? 1.0 : -1.0;
        const auto kx = static_cast<std::size_t>(arc.leaf_var(i, rmax));
        const auto kn = static_cast<std::size_t>(arc.leaf_var(i, rmin));
        out[kx] += dd;
        out[kx + 1] += sh * dd;
        out[kn] -= dd;
        out[kn + 1] -= sh * dd;
      }
    }
  }
  return f;
}

namespace {
// The dose 95 % of the values reach (the fifth percentile); 0 for none.
double d95_of(std::vector<double> v) {
  if (v.empty()) return 0.0;
  const auto k = static_cast<std::ptrdiff_t>(0.05 * static_cast<double>(v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[static_cast<std::size_t>(k)];
}
}  // namespace

double VmatPlanner::Impl::target_d95(const std::vector<float>& body_dose) const {
  const Mask& target = *mask(options.evaluation_target());
  std::vector<double> in_target;
  for (std::size_t n = 0; n < body_index.size(); ++n) {
    if (target[body_index[n]] != 0) in_target.push_back(static_cast<double>(body_dose[n]));
  }
  return d95_of(std::move(in_target));
}

double VmatPlanner::Impl::points_target_d95(const std::vector<double>& point_dose) const {
  std::vector<double> in_target;
  for (const int p : target_sample) {
    in_target.push_back(point_dose[static_cast<std::size_t>(p)]);
  }
  return d95_of(std::move(in_target));
}

Correction VmatPlanner::Impl::fit_correction(const std::vector<float>& full,
                                             const std::vector<double>& beamlets) const {
  Correction c;
  c.scale.resize(full.size());
  c.offset.resize(full.size());
  const double floor = 0.01 * rx_fraction();
  for (std::size_t n = 0; n < full.size(); ++n) {
    const double f = static_cast<double>(full[n]);
    const double s =
        beamlets[n] > floor ? std::clamp(f / beamlets[n], 0.5, options.correction_max_scale) : 1.0;
    c.scale[n] = static_cast<float>(s);
    c.offset[n] = static_cast<float>(f - s * beamlets[n]);
  }
  return c;
}

std::vector<float> VmatPlanner::Impl::full_dose(const std::vector<double>& x) const {
  return full_dose_of([&](int k, int i) {
    const Arc& arc = arcs[static_cast<std::size_t>(k)];
    double w = 0.0;
    if (i > 0) w += 0.5 * x[arc.seg(i - 1)];
    if (i + 1 < arc.cps()) w += 0.5 * x[arc.seg(i)];
    const Aperture a = aperture_of(arc, [&](int r) {
      const auto v = static_cast<std::size_t>(arc.leaf_var(i, r));
      return std::pair<double, double>{(x[v] + x[v + 1]) * kLeafScale,
                                       (x[v] - x[v + 1]) * kLeafScale};
    });
    return std::pair<Aperture, double>{a, w};
  });
}

std::vector<float> VmatPlanner::Impl::full_dose_of(
    const std::function<std::pair<Aperture, double>(int, int)>& control_point) const {
  const std::size_t np = opt_points.size();
  std::vector<float> dose(np, 0.0F);
  ThreadPartials<float> partials(np);
  const auto n = static_cast<int>(directions.size());
#pragma omp parallel
  {
    std::vector<float>& local = partials.mine();
    std::vector<std::pair<Aperture, double>> apertures;
#pragma omp for schedule(static, 1)
    for (int d = 0; d < n; ++d) {
      const auto& direction = directions[static_cast<std::size_t>(d)];
      apertures.clear();
      for (const auto& [k, i] : direction) apertures.push_back(control_point(k, i));
      const auto& [k0, i0] = direction.front();
      engine->add_apertures_dose(
          arcs[static_cast<std::size_t>(k0)].prepared[static_cast<std::size_t>(i0)], apertures,
          local);
    }
  }
  partials.add_to(dose);
  return dose;
}

VmatPlanner::VmatPlanner(const Case& planning_case, const MachineProfile& profile,
                         const BeamModel& model, VmatOptions options, Progress progress)
    : impl_(std::make_unique<Impl>()) {
  impl_->profile = profile;
  impl_->options = std::move(options);
  impl_->progress = std::move(progress);
  if (!(impl_->options.prescription_gy > 0.0) || impl_->options.fractions == 0) {
    throw InputError("prescription", "dose and fractions must be positive");
  }
  impl_->build(planning_case, model);
}

VmatPlanner::~VmatPlanner() = default;

const Grid& VmatPlanner::dose_grid() const {
  return impl_->grid;
}
const std::vector<Structure>& VmatPlanner::structures_on_dose_grid() const {
  return impl_->on_grid;
}
const Eigen::Vector3d& VmatPlanner::isocentre_mm() const {
  return impl_->isocentre;
}
std::size_t VmatPlanner::matrix_nonzeros() const {
  return impl_->nonzeros;
}
std::size_t VmatPlanner::matrix_bytes() const {
  return impl_->matrix_bytes;
}
std::size_t VmatPlanner::optimisation_points() const {
  return impl_->opt_points.size();
}
double VmatPlanner::matrix_s() const {
  return impl_->matrix_seconds;
}
const DoseEngine& VmatPlanner::engine() const {
  return *impl_->engine;
}

/// One plan's direct-aperture refinement: the DAO's variables within their bounds, the full
/// model's correction at the points, and L-BFGS runs on them, each evaluation and correction
/// counted and timed in the result.
struct VmatPlanner::Impl::Refinement {
  const Impl& m;
  const std::vector<Term>& terms;
  VmatResult& result;
  std::vector<double> x, lo, hi;
  Correction correction;

  Refinement(const Impl& impl, const std::vector<Term>& t, VmatResult& r)
      : m(impl), terms(t), result(r) {
    m.bounds(lo, hi);
  }

  /// The start: generated or routed apertures, or conformal ones with uniform MU scaled to the
  /// prescription's mean target dose; then projected onto the machine's limits.
  void start() {
    if (m.options.start != VmatOptions::Start::kConformal) {
      x = m.generate_apertures(terms, result);  // vmat_apertures.cpp, vmat_routing.cpp
    } else {
      x = m.initial(1.0);
      std::vector<double> d;
      m.forward(x, correction, d);
      double mean = 0.0;
      for (const int p : m.target_sample) mean += d[static_cast<std::size_t>(p)];
      mean /= static_cast<double>(m.target_sample.size());
      x = m.initial(m.rx_fraction() / std::max(mean, 1e-9));
    }
    m.project(x);  // start deliverable: leaf travel and bank span within the limits
    for (std::size_t k = 0; k < x.size(); ++k) x[k] = std::clamp(x[k], lo[k], hi[k]);
  }

  /// The kernels' tails beyond the beamlets, from the full model at the current apertures.
  void correct() {
    const auto tc = Clock::now();
    const std::vector<float> full = m.full_dose(x);
    std::vector<double> beamlets;
    m.forward(x, {}, beamlets);
    correction = m.fit_correction(full, beamlets);
    result.correction_s += seconds_since(tc);
  }

  /// L-BFGS within `evaluations` (the leaves pinned by their bounds when `leaves_fixed`): the
  /// objective at the point it stopped.
  double run(int evaluations, bool leaves_fixed) {
    nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(x.size()));
    std::vector<double> l = lo;
    std::vector<double> h = hi;
    if (leaves_fixed) {
      for (const auto& arc : m.arcs) {
        for (int k = arc.leaf_offset; k < arc.leaf_offset + 2 * arc.cps() * arc.rows; ++k) {
          l[static_cast<std::size_t>(k)] = h[static_cast<std::size_t>(k)] =
              x[static_cast<std::size_t>(k)];
        }
      }
    }
    opt.set_lower_bounds(l);
    opt.set_upper_bounds(h);
    opt.set_maxeval(evaluations);
    opt.set_ftol_rel(1e-7);
    opt.set_vector_storage(10);
    fixed_ = leaves_fixed;
    // With the leaves fixed the dose is linear in the MU: each aperture's dose once, then dense
    // products (vmat_segment_mu.cpp).
    if (leaves_fixed) aperture_doses_ = m.aperture_doses(x);
    opt.set_min_objective(
        [](const std::vector<double>& v, std::vector<double>& g, void* data) {
          auto* r = static_cast<Refinement*>(data);
          const auto te = Clock::now();
          const double f = r->fixed_
                               ? r->m.evaluate_mu(r->aperture_doses_, v, g, r->terms, r->correction)
                               : r->m.evaluate(v, g, r->terms, r->correction, false);
          r->result.evaluation_s += seconds_since(te);
          r->result.objective_history.push_back(f);
          ++r->result.evaluations;
          return f;
        },
        this);
    double f = 0.0;
    try {
      opt.optimize(x, f);
    } catch (const nlopt::roundoff_limited&) {
    } catch (const nlopt::forced_stop&) {
    } catch (const std::runtime_error&) {
      // NLopt's generic failure after progress: keep the best point it returned in x.
    }
    aperture_doses_ = {};
    return f;
  }

 private:
  bool fixed_ = false;
  Eigen::MatrixXf aperture_doses_;  // points x control points while the leaves are fixed
};

VmatResult VmatPlanner::Impl::refine(bool spare, std::vector<double>& x) const {
  const auto t0 = Clock::now();
  VmatResult result;
  const std::vector<Term> terms = this->terms(spare);
  const std::string what = spare ? "plan" : "baseline";
  Refinement r(*this, terms, result);
  r.start();
  const int mu_fit = std::max(10, options.iterations / 5);  // evaluations of each MU-only fit
  const bool generated = options.start != VmatOptions::Start::kConformal;
  if (generated && options.iterations > 0) {  // the DAO starts from the generation's MU fitted
    r.correct();
    const double f = r.run(mu_fit, true);
    say(what + ": apertures generated in " + format_number(result.generation_s) +
        " s, segment MU fitted, objective " + format_number(f));
  } else if (generated) {  // the generated apertures are the plan: one MU fit, twice as long
    say(what + ": apertures generated in " + format_number(result.generation_s) + " s");
  }
  for (int done = 0; done < options.iterations;) {  // leaves and MU, corrected every so often
    const int n = std::min(options.iterations - done, options.correction_every);
    const double f = r.run(n, false);
    done += n;
    say(what + ": " + std::to_string(done) + "/" + std::to_string(options.iterations) +
        " evaluations, objective " + format_number(f));
    r.correct();
  }
  // Sequencing: the machine's limits, then the segment MU with the leaves fixed.
  project(r.x);
  r.correct();
  const double f_mu = r.run(generated && options.iterations == 0 ? 2 * mu_fit : mu_fit, true);
  say(what + ": apertures sequenced, segment MU refined, objective " + format_number(f_mu));
  {  // the optimiser's own view of the target, to compare with the voxels' normalisation
    std::vector<double> d;
    forward(r.x, r.correction, d);
    result.points_target_d95_fraction = points_target_d95(d) / rx_fraction();
  }
  result.plan = make_plan(r.x, spare ? "LiverVMAT" : "LiverVMAT-baseline");
  x = std::move(r.x);
  result.optimiser_s = seconds_since(t0);
  return result;
}

void VmatPlanner::Impl::finish(VmatResult& result, const std::vector<double>& x,
                               const std::vector<float>& dose) const {
  const Impl& m = *this;
  const double d95 = m.target_d95(dose);
  double scale = d95 > 0.0 ? m.rx_fraction() / d95 : 1.0;
  // Keep every segment within the machine's MU-per-degree limits.
  double scale_lo = 0.0;
  double scale_hi = 1e9;
  for (const auto& arc : m.arcs) {
    for (int s = 0; s + 1 < arc.cps(); ++s) {
      const double v = x[arc.seg(s)];
      scale_lo = std::max(scale_lo, 1.01 * m.profile.dose.min_mu_per_deg * arc.spacing_deg / v);
      scale_hi = std::min(scale_hi, 0.99 * m.profile.dose.max_mu_per_deg * arc.spacing_deg / v);
    }
  }
  if (scale < scale_lo || scale > scale_hi) {
    result.notes.push_back("normalisation limited by the MU-per-degree limits");
  }
  scale = std::clamp(scale, scale_lo, std::max(scale_lo, scale_hi));
  for (auto& beam : result.plan.beams)
    beam.meterset_mu = std::round(beam.meterset_mu * scale * 100.0) / 100.0;
  result.normalisation = scale;
  result.dose_gy = Volume<float>(m.grid, 0.0F);
  const double course = static_cast<double>(m.options.fractions);
  for (std::size_t n = 0; n < m.body_index.size(); ++n) {
    result.dose_gy[m.body_index[n]] =
        static_cast<float>(static_cast<double>(dose[n]) * scale * course);
  }
  if (std::abs(scale - 1.0) > 0.05) {
    result.notes.push_back("MU normalised by " + format_number(scale) + " to reach D95");
  }
}

VmatResult VmatPlanner::optimise(bool spare) const {
  std::vector<double> x;
  VmatResult result = impl_->refine(spare, x);
  const auto t1 = Clock::now();
  impl_->say(std::string(spare ? "plan" : "baseline") + ": final dose on " +
             std::to_string(impl_->body_points.size()) + " points");
  impl_->finish(result, x,
                impl_->engine->plan_dose(result.plan, impl_->isocentre, impl_->body_points));
  result.dose_s = seconds_since(t1);
  return result;
}

std::pair<VmatResult, VmatResult> VmatPlanner::optimise_with_baseline() const {
  std::vector<double> xp;
  std::vector<double> xb;
  VmatResult plan = impl_->refine(true, xp);
  VmatResult baseline = impl_->refine(false, xb);
  const auto t1 = Clock::now();
  impl_->say("plan and baseline: final doses on " + std::to_string(impl_->body_points.size()) +
             " points");
  const auto doses =
      impl_->engine->plan_doses({&plan.plan, &baseline.plan}, impl_->isocentre, impl_->body_points);
  impl_->finish(plan, xp, doses[0]);
  impl_->finish(baseline, xb, doses[1]);
  plan.dose_s = baseline.dose_s = seconds_since(t1);
  return {std::move(plan), std::move(baseline)};
}

}  // namespace linac::planning
