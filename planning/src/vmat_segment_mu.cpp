// The segment-MU fits (planning/src only): with the leaves fixed the dose at the points is linear
// in the control points' MU, so each aperture's dose per MU is computed once (one pass over the
// beamlet matrices) and every evaluation of the fit is two dense products on that matrix (points
// x control points) instead of two passes over the beamlet matrices, about six times its size.
#include <algorithm>

#include "dense_products.hpp"
#include "vmat_problem.hpp"

namespace linac::planning {

void VmatPlanner::Impl::open_fluence(const Arc& arc, int i, const std::vector<double>& x, double mu,
                                     Eigen::VectorXf& f) const {
  const double t = profile.mlc.transmission;
  const double half_dlg = 0.5 * profile.mlc.dosimetric_leaf_gap_mm;
  const auto& L = arc.matrices[static_cast<std::size_t>(i)].layout;
  f.resize(L.count());
  for (int r = 0; r < L.rows; ++r) {
    const auto k = static_cast<std::size_t>(arc.leaf_var(i, r));
    const double a = (x[k] + x[k + 1]) * kLeafScale + half_dlg;
    const double bb = (x[k] - x[k + 1]) * kLeafScale - half_dlg;
    for (int c = 0; c < L.columns; ++c) {
      const double lo = L.column_lo(c);
      const double hi = L.column_hi(c);
      const double open = std::max(0.0, std::min(a, hi) - std::max(bb, lo)) / (hi - lo);
      f[r * L.columns + c] = static_cast<float>(mu * (t + (1.0 - t) * open));
    }
  }
}

Eigen::MatrixXf VmatPlanner::Impl::aperture_doses(const std::vector<double>& x) const {
  std::vector<std::pair<int, int>> cps;  // (arc, control point) of each column
  for (std::size_t k = 0; k < arcs.size(); ++k) {
    for (int i = 0; i < arcs[k].cps(); ++i) cps.emplace_back(static_cast<int>(k), i);
  }
  const auto np = static_cast<Eigen::Index>(opt_points.size());
  Eigen::MatrixXf doses(np, static_cast<Eigen::Index>(cps.size()));
  const auto n = static_cast<int>(cps.size());
#pragma omp parallel
  {
    Eigen::VectorXf f;
#pragma omp for schedule(dynamic)
    for (int c = 0; c < n; ++c) {
      const auto [k, i] = cps[static_cast<std::size_t>(c)];
      const Arc& arc = arcs[static_cast<std::size_t>(k)];
      open_fluence(arc, i, x, 1.0, f);
      doses.col(c) = arc.matrices[static_cast<std::size_t>(i)].dose_per_mu * f;
    }
  }
  return doses;
}

double VmatPlanner::Impl::evaluate_mu(const Eigen::MatrixXf& doses, const std::vector<double>& x,
                                      std::vector<double>& grad, const std::vector<Term>& t,
                                      const Correction& correction) const {
  // Each control point's MU: half of the segments on either side.
  Eigen::VectorXf w(doses.cols());
  Eigen::Index c = 0;
  for (const auto& arc : arcs) {
    for (int i = 0; i < arc.cps(); ++i, ++c) {
      double mu = 0.0;
      if (i > 0) mu += 0.5 * x[arc.seg(i - 1)];
      if (i + 1 < arc.cps()) mu += 0.5 * x[arc.seg(i)];
      w[c] = static_cast<float>(mu);
    }
  }
  const Eigen::VectorXf beamlets = times(doses, doses.cols(), w);
  const std::size_t np = opt_points.size();
  std::vector<double> dose(np);
  for (std::size_t p = 0; p < np; ++p) {
    dose[p] = correction.at(p, static_cast<double>(beamlets[static_cast<Eigen::Index>(p)]));
  }
  std::vector<double> g;
  double f = objective_terms(t, dose, rx_fraction(), g);
  std::vector<double> scratch;
  if (grad.empty()) scratch.assign(x.size(), 0.0);  // the penalty needs somewhere to write
  std::vector<double>& out = grad.empty() ? scratch : grad;
  std::fill(out.begin(), out.end(), 0.0);
  f += mu_smoothness(x, out);
  Eigen::VectorXf gf(static_cast<Eigen::Index>(np));
  for (std::size_t p = 0; p < np; ++p) {  // d(dose)/d(matrix dose) = scale
    const double sc = correction.scale.empty() ? 1.0 : static_cast<double>(correction.scale[p]);
    gf[static_cast<Eigen::Index>(p)] = static_cast<float>(g[p] * sc);
  }
  const Eigen::VectorXf dw = transpose_times(doses, doses.cols(), gf);  // dF / d(MU of each CP)
  c = 0;
  for (const auto& arc : arcs) {
    for (int s = 0; s + 1 < arc.cps(); ++s) {
      out[arc.seg(s)] +=
          0.5 * (static_cast<double>(dw[c + s]) + static_cast<double>(dw[c + s + 1]));
    }
    c += arc.cps();
  }
  return f;
}

}  // namespace linac::planning
