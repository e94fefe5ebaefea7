// The free-fluence optimum of a VMAT problem (VmatPlanner::fluence_optimum): one intensity >= 0
// per beamlet and control point, the plan's objectives on the same points, no deliverability.
// It says how much of an objective the geometry and the beam allow before any aperture is made
// (ADR 0009): a plan-review figure, and the target a deliverable plan is judged against.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <nlopt.hpp>

#include "linac/core/text.hpp"
#include "linac/planning/vmat.hpp"
#include "thread_partials.hpp"
#include "vmat_problem.hpp"

namespace linac::planning {

namespace {

using Clock = std::chrono::steady_clock;

struct ControlPoint {
  const Arc* arc;
  int cp;
  std::size_t offset;  // first beamlet's variable
};

/// Every control point of every arc with its beamlets' place in the variables.
std::vector<ControlPoint> control_points(const std::vector<Arc>& arcs, std::size_t& variables) {
  std::vector<ControlPoint> out;
  variables = 0;
  for (const auto& arc : arcs) {
    for (int i = 0; i < arc.cps(); ++i) {
      out.push_back({&arc, i, variables});
      variables +=
          static_cast<std::size_t>(arc.matrices[static_cast<std::size_t>(i)].layout.count());
    }
  }
  return out;
}

std::vector<float> weights_of(const ControlPoint& c, const std::vector<double>& x) {
  const auto& L = c.arc->matrices[static_cast<std::size_t>(c.cp)].layout;
  std::vector<float> w(static_cast<std::size_t>(L.count()));
  for (std::size_t b = 0; b < w.size(); ++b) w[b] = static_cast<float>(x[c.offset + b]);
  return w;
}

/// The intensities a plan's apertures deliver (each control point carrying half of the MU of
/// the segments either side, the leaves' transmission under them), in the optimiser's frame
/// (before the plan's normalisation); empty when the plan is not of this problem's arcs.
std::vector<double> intensities_of(const VmatResult& from, const std::vector<ControlPoint>& cps,
                                   std::size_t variables, double transmission, double half_dlg) {
  const auto& beams = from.plan.beams;
  std::vector<double> x(variables, 0.0);
  std::size_t arc_index = 0;
  std::vector<double> mu;
  for (const auto& c : cps) {
    if (c.cp == 0) {
      if (arc_index >= beams.size() ||
          beams[arc_index].control_points.size() != static_cast<std::size_t>(c.arc->cps())) {
        return {};
      }
      mu = control_point_mu(beams[arc_index]);
      ++arc_index;
    }
    const auto& point = beams[arc_index - 1].control_points[static_cast<std::size_t>(c.cp)];
    const double w = mu[static_cast<std::size_t>(c.cp)] / std::max(from.normalisation, 1e-9);
    const auto& L = c.arc->matrices[static_cast<std::size_t>(c.cp)].layout;
    for (int r = 0; r < L.rows; ++r) {
      const auto row = c.arc->row_index(r);
      if (row >= point.leaf_a_mm.size() || row >= point.leaf_b_mm.size()) return {};
      const double a = point.leaf_a_mm[row] + half_dlg;
      const double b = point.leaf_b_mm[row] - half_dlg;
      for (int col = 0; col < L.columns; ++col) {
        const double lo = L.column_lo(col);
        const double hi = L.column_hi(col);
        const double open = std::max(0.0, std::min(a, hi) - std::max(b, lo)) / (hi - lo);
        x[c.offset + static_cast<std::size_t>(r * L.columns + col)] =
            w * (transmission + (1.0 - transmission) * open);
      }
    }
  }
  return arc_index == beams.size() ? x : std::vector<double>{};
}

}  // namespace

FluenceOptimum VmatPlanner::fluence_optimum(const VmatResult& from, bool spare,
                                            int evaluations) const {
  const Impl& m = *impl_;
  if (evaluations < 1) throw std::invalid_argument("fluence_optimum: evaluations must be >= 1");
  const auto t0 = Clock::now();
  const std::vector<Term> terms = m.terms(spare);
  std::size_t nx = 0;
  const std::vector<ControlPoint> cps = control_points(m.arcs, nx);
  const std::size_t np = m.opt_points.size();
  const int ncp = static_cast<int>(cps.size());
  // Dose at the points from the beamlet matrices, and the objective's gradient back onto them.
  auto forward = [&](const std::vector<double>& x, std::vector<double>& dose) {
    dose.assign(np, 0.0);
    ThreadPartials<double> partials(np);
#pragma omp parallel
    {
      std::vector<double>& local = partials.mine();
      std::vector<float> f;
#pragma omp for schedule(static, 1)
      for (int k = 0; k < ncp; ++k) {
        const auto& c = cps[static_cast<std::size_t>(k)];
        const auto& A = c.arc->matrices[static_cast<std::size_t>(c.cp)].dose_per_mu;
        f.resize(static_cast<std::size_t>(A.cols()));
        for (std::size_t b = 0; b < f.size(); ++b) f[b] = static_cast<float>(x[c.offset + b]);
        A.add_product(f.data(), local.data());
      }
    }
    partials.add_to(dose);
  };
  Correction correction;
  auto corrected = [&](std::vector<double>& dose) {
    for (std::size_t p = 0; p < np; ++p) dose[p] = correction.at(p, dose[p]);
  };
  // The full model's dose of the intensities at the points (no cut-off).
  auto full = [&](const std::vector<double>& x) {
    std::vector<float> dose(np, 0.0F);
    ThreadPartials<float> partials(np);
#pragma omp parallel
    {
      std::vector<float>& local = partials.mine();
#pragma omp for schedule(static, 1)
      for (int k = 0; k < ncp; ++k) {
        const auto& c = cps[static_cast<std::size_t>(k)];
        const auto& L = c.arc->matrices[static_cast<std::size_t>(c.cp)].layout;
        m.engine->add_fluence_dose(c.arc->prepared[static_cast<std::size_t>(c.cp)], c.arc->jaws, L,
                                   weights_of(c, x), local);
      }
    }
    partials.add_to(dose);
    return dose;
  };
  // Start: the deliverable plan's intensities (so the optimum is at least as good for the
  // objective), the full model's tails fitted to them.
  std::vector<double> x = intensities_of(from, cps, nx, m.profile.mlc.transmission,
                                         0.5 * m.profile.mlc.dosimetric_leaf_gap_mm);
  if (x.empty()) {
    throw std::invalid_argument("fluence_optimum: the plan is not one of this planner's");
  }
  {
    std::vector<double> beamlets;
    forward(x, beamlets);
    correction = m.fit_correction(full(x), beamlets);
  }
  FluenceOptimum out;
  struct Ctx {
    const std::function<double(const std::vector<double>&, std::vector<double>&)>* f;
  };
  const std::function<double(const std::vector<double>&, std::vector<double>&)> objective =
      [&](const std::vector<double>& v, std::vector<double>& grad) {
        std::vector<double> dose;
        forward(v, dose);
        corrected(dose);
        std::vector<double> g;
        const double f = objective_terms(terms, dose, m.rx_fraction(), g);
        ++out.evaluations;
        if (grad.empty()) return f;
        if (!correction.scale.empty()) {
          for (std::size_t p = 0; p < np; ++p) g[p] *= static_cast<double>(correction.scale[p]);
        }
        const Eigen::Map<const Eigen::VectorXd> gd(g.data(), static_cast<Eigen::Index>(np));
        const Eigen::VectorXf gf = gd.cast<float>();
#pragma omp parallel for schedule(dynamic)
        for (int k = 0; k < ncp; ++k) {
          const auto& c = cps[static_cast<std::size_t>(k)];
          const auto& A = c.arc->matrices[static_cast<std::size_t>(c.cp)].dose_per_mu;
          const Eigen::VectorXf h = A.transpose_times(gf);
          for (Eigen::Index b = 0; b < h.size(); ++b) {
            grad[c.offset + static_cast<std::size_t>(b)] = static_cast<double>(h[b]);
          }
        }
        return f;
      };
  {
    std::vector<double> dose;
    std::vector<double> g;
    forward(x, dose);
    corrected(dose);
    out.start_objective = objective_terms(terms, dose, m.rx_fraction(), g);
  }
  // Rounds of L-BFGS between full-model corrections (the kernels' tails beyond the cut-off),
  // over y with x = y^2: no bounds. L-BFGS with x >= 0 as bounds stalls on these problems (most
  // beamlets sit at the bound, and the bounded line searches crawl): on TG-119's C-shape it had
  // the core's mean at 50 Gy after 600 evaluations and 33 Gy after 4,000, where the squared
  // intensities reach 11 Gy in 430 (ADR 0009).
  const std::function<double(const std::vector<double>&, std::vector<double>&)> squared =
      [&](const std::vector<double>& y, std::vector<double>& grad_y) {
        std::vector<double> xs(y.size());
        for (std::size_t j = 0; j < y.size(); ++j) xs[j] = y[j] * y[j];
        std::vector<double> grad_x(grad_y.empty() ? 0 : y.size());
        const double f = objective(xs, grad_x);
        for (std::size_t j = 0; j < grad_y.size(); ++j) grad_y[j] = 2.0 * y[j] * grad_x[j];
        return f;
      };
  const int rounds = std::clamp(evaluations / 100, 1, 4);
  for (int r = 0; r < rounds; ++r) {
    nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(nx));
    opt.set_maxeval(evaluations / rounds);
    opt.set_ftol_rel(1e-8);
    opt.set_vector_storage(10);
    Ctx ctx{&squared};
    opt.set_min_objective([](const std::vector<double>& v, std::vector<double>& g,
                             void* data) { return (*static_cast<Ctx*>(data)->f)(v, g); },
                          &ctx);
    std::vector<double> y(nx);
    for (std::size_t j = 0; j < nx; ++j) y[j] = std::sqrt(std::max(0.0, x[j]));
    double f = 0.0;
    try {
      opt.optimize(y, f);
    } catch (const nlopt::roundoff_limited&) {
    } catch (const std::runtime_error&) {
      // NLopt's generic failure after progress: y holds the best point it returned.
    }
    for (std::size_t j = 0; j < nx; ++j) x[j] = y[j] * y[j];
    std::vector<double> no_gradient;
    const int evaluated = out.evaluations;
    out.objective = objective(x, no_gradient);  // as the correction left it: not the optimiser's
    out.evaluations = evaluated;
    std::vector<double> beamlets;
    forward(x, beamlets);
    correction = m.fit_correction(full(x), beamlets);
    m.say(std::string(spare ? "plan" : "baseline") + " free fluence: round " +
          std::to_string(r + 1) + "/" + std::to_string(rounds) + ", objective " +
          format_number(out.objective));
  }
  // The full model's dose on the dose grid, normalised as the plans are (target D95).
  std::vector<float> dose(m.body_points.size(), 0.0F);
  ThreadPartials<float> partials(dose.size());
#pragma omp parallel
  {
    std::vector<float>& local = partials.mine();
#pragma omp for schedule(static, 1)
    for (int k = 0; k < ncp; ++k) {
      const auto& c = cps[static_cast<std::size_t>(k)];
      const auto& L = c.arc->matrices[static_cast<std::size_t>(c.cp)].layout;
      const PreparedPoints pp = m.engine->prepare(c.arc->geometry[static_cast<std::size_t>(c.cp)],
                                                  c.arc->jaws, m.body_points);
      m.engine->add_fluence_dose(pp, c.arc->jaws, L, weights_of(c, x), local);
    }
  }
  partials.add_to(dose);
  const double d95 = m.target_d95(dose);
  out.normalisation = d95 > 0.0 ? m.rx_fraction() / d95 : 1.0;
  out.dose_gy = Volume<float>(m.grid, 0.0F);
  const double course = static_cast<double>(m.options.fractions) * out.normalisation;
  for (std::size_t n = 0; n < m.body_index.size(); ++n) {
    out.dose_gy[m.body_index[n]] = static_cast<float>(static_cast<double>(dose[n]) * course);
  }
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace linac::planning
