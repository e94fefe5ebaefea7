// Whole-arc routing of leaf trajectories (ADR 0009): per leaf pair, dynamic programming along an
// arc chooses the (B, A) leaf columns at every control point that minimise the objective's
// linearised price, each leaf within the travel allowed per control point. `route` builds the
// arcs one after another (VmatOptions::Start::kRouted); `reroute` re-chooses each arc's
// trajectories after generation, a proximal price keeping them near the current ones, and keeps
// the change when the objective (after the MU are re-optimised) falls.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "linac/core/text.hpp"
#include "vmat_generator.hpp"

namespace linac::planning {

double VmatPlanner::Impl::Generator::objective() const {
  std::vector<double> d;
  std::vector<double> g;
  dose_at(cp_weights(s_mu), d);
  const std::vector<double> sv(s_mu.data(), s_mu.data() + s_mu.size());
  return objective_terms(t, d, rx, g) + mu_smoothness(sv, nullptr);
}

double VmatPlanner::Impl::Generator::route_arc(int k, const std::vector<Eigen::VectorXf>& h,
                                               const Eigen::VectorXd& w, double rho,
                                               std::vector<GridAperture>& routed) const {
  // Per leaf pair, the path of (b, a) states along the arc with the lowest summed price
  // w_i (P_i(a) - P_i(b)) (P_i: the row's prefix sums of h_i), each leaf within the travel step
  // of its position at the previous control point, and a small price per column of travel so
  // that leaves do not move without reason. The box neighbourhood and the travel price are
  // separable: a minimum over a' then over b', O(states x step) per control point.
  const auto& arc = m.arcs[static_cast<Index>(k)];
  const int n = arc.cps();
  const int f0 = first[static_cast<Index>(k)];
  const auto& L = matrix(f0).layout;
  const int C = L.columns;
  const int S = C + 1;
  const int step = travel_step(k);
  constexpr double inf = std::numeric_limits<double>::infinity();
  routed.assign(static_cast<Index>(n), GridAperture{});
  for (auto& ap : routed) {
    ap.b.assign(static_cast<Index>(L.rows), 0);
    ap.a.assign(static_cast<Index>(L.rows), 0);
  }
  // Each row's gain on its own, summed in row order: the same total whatever thread did a row.
  std::vector<double> row_gain(static_cast<Index>(L.rows), 0.0);
#pragma omp parallel
  {
    std::vector<double> cur(static_cast<Index>(S * S));
    std::vector<double> tmp(static_cast<Index>(S * S));
    std::vector<double> nxt(static_cast<Index>(S * S));
    std::vector<signed char> ta(static_cast<Index>(S * S));
    std::vector<signed char> from_b(static_cast<Index>(n * S * S));
    std::vector<signed char> from_a(static_cast<Index>(n * S * S));
    std::vector<std::vector<double>> prefix(static_cast<Index>(n),
                                            std::vector<double>(static_cast<Index>(S)));
#pragma omp for schedule(dynamic)
    for (int r = 0; r < L.rows; ++r) {
      double scale = 0.0;
      for (int i = 0; i < n; ++i) {
        auto& P = prefix[static_cast<Index>(i)];
        const double wi = w[column[static_cast<Index>(f0 + i)]];
        P[0] = 0.0;
        double top = 0.0;
        for (int c = 0; c < C; ++c) {
          const double v = wi * static_cast<double>(h[static_cast<Index>(i)][r * C + c]);
          P[static_cast<Index>(c) + 1] = P[static_cast<Index>(c)] + v;
          top = std::max(top, std::abs(v));
        }
        scale += top;
      }
      const double lambda = 1e-3 * scale / n;  // price of one column of travel
      auto price = [&](int i, int b, int a) {
        const auto& P = prefix[static_cast<Index>(i)];
        return P[static_cast<Index>(a)] - P[static_cast<Index>(b)];
      };
      // The price plus rho per column away from the current aperture (a proximal term: the
      // linearisation holds only near the current dose).
      auto price_near = [&](int i, int b, int a) {
        const auto& o = aperture[static_cast<Index>(f0 + i)];
        return price(i, b, a) + rho * (std::abs(b - o.b[static_cast<Index>(r)]) +
                                       std::abs(a - o.a[static_cast<Index>(r)]));
      };
      for (int b = 0; b < S; ++b) {
        for (int a = 0; a < S; ++a) {
          cur[static_cast<Index>(b * S + a)] = b <= a ? price_near(0, b, a) : inf;
        }
      }
      for (int i = 1; i < n; ++i) {
        for (int b = 0; b < S; ++b) {  // the best a' for each (b', a)
          for (int a = 0; a < S; ++a) {
            double best = inf;
            int arg = 0;
            for (int d = -step; d <= step; ++d) {
              if (a + d < 0 || a + d >= S) continue;
              const double v = cur[static_cast<Index>(b * S + a + d)] + lambda * std::abs(d);
              if (v < best) best = v, arg = d;
            }
            tmp[static_cast<Index>(b * S + a)] = best;
            ta[static_cast<Index>(b * S + a)] = static_cast<signed char>(arg);
          }
        }
        const auto base = static_cast<Index>(i) * static_cast<Index>(S * S);
        for (int b = 0; b < S; ++b) {  // then the best b'
          for (int a = 0; a < S; ++a) {
            const auto s = static_cast<Index>(b * S + a);
            nxt[s] = inf;
            if (b > a) continue;
            double best = inf;
            int arg = 0;
            for (int d = -step; d <= step; ++d) {
              if (b + d < 0 || b + d >= S) continue;
              const double v = tmp[static_cast<Index>((b + d) * S + a)] + lambda * std::abs(d);
              if (v < best) best = v, arg = d;
            }
            if (best == inf) continue;
            nxt[s] = best + price_near(i, b, a);
            from_b[base + s] = static_cast<signed char>(arg);
            from_a[base + s] = ta[static_cast<Index>((b + arg) * S + a)];
          }
        }
        std::swap(cur, nxt);
      }
      const auto end = std::min_element(cur.begin(), cur.end()) - cur.begin();
      double old_cost = 0.0;
      for (int i = 0; i < n; ++i) {
        const auto& o = aperture[static_cast<Index>(f0 + i)];
        const int b = o.b[static_cast<Index>(r)];
        const int a = o.a[static_cast<Index>(r)];
        old_cost += price(i, b, a);
        if (i > 0) {
          const auto& p = aperture[static_cast<Index>(f0 + i - 1)];
          old_cost += lambda * (std::abs(b - p.b[static_cast<Index>(r)]) +
                                std::abs(a - p.a[static_cast<Index>(r)]));
        }
      }
      row_gain[static_cast<Index>(r)] = cur[static_cast<Index>(end)] - old_cost;
      int b = static_cast<int>(end) / S;
      int a = static_cast<int>(end) % S;
      for (int i = n - 1; i >= 0; --i) {
        routed[static_cast<Index>(i)].b[static_cast<Index>(r)] = b;
        routed[static_cast<Index>(i)].a[static_cast<Index>(r)] = a;
        if (i == 0) break;
        const auto s =
            static_cast<Index>(i) * static_cast<Index>(S * S) + static_cast<Index>(b * S + a);
        const int db = from_b[s];
        const int da = from_a[s];
        b += db;
        a += da;
      }
    }
  }
  double gain = 0.0;
  for (const double g : row_gain) gain += g;
  return gain;
}

void VmatPlanner::Impl::Generator::reroute(VmatResult& result) {
  // Exchange changes one control point at a time with its neighbours held, so an arc that opened
  // over a whole row keeps doing so: to leave the organ inside the row to the other arc, a leaf
  // must move across it over many control points at once. Here each arc in turn takes the leaf
  // trajectories with the lowest price along the whole arc (the objective linearised at the
  // current dose, the control points' MU held), within a radius of the current ones that shrinks
  // until the objective, after the MU are re-optimised, falls.
  for (int pass = 0; pass < m.options.reroute_passes; ++pass) {
    int accepted = 0;
    for (int k = 0; k < static_cast<int>(m.arcs.size()); ++k) {
      const auto& arc = m.arcs[static_cast<Index>(k)];
      const int f0 = first[static_cast<Index>(k)];
      const int n = arc.cps();
      bool same_layout = true;
      for (int i = 0; i < n; ++i) {
        same_layout = same_layout && matrix(f0 + i).layout.columns == matrix(f0).layout.columns &&
                      matrix(f0 + i).layout.rows == matrix(f0).layout.rows;
      }
      if (!same_layout) continue;
      const Eigen::VectorXf gf = fluence_gradient();
      std::vector<Eigen::VectorXf> h(static_cast<Index>(n));
#pragma omp parallel for schedule(dynamic)
      for (int i = 0; i < n; ++i) {
        h[static_cast<Index>(i)] = matrix(f0 + i).dose_per_mu.transpose_times(gf);
      }
      const Eigen::VectorXd w = cp_weights(s_mu);
      const double f_before = objective();
      const std::vector<GridAperture> kept(aperture.begin() + f0, aperture.begin() + f0 + n);
      const Eigen::VectorXd kept_mu = s_mu;
      double mean_abs = 0.0;  // a beamlet's price, on average
      for (int i = 0; i < n; ++i) {
        mean_abs += w[column[static_cast<Index>(f0 + i)]] *
                    static_cast<double>(h[static_cast<Index>(i)].cwiseAbs().mean());
      }
      mean_abs /= n;
      for (const double factor : {0.5, 2.0, 8.0}) {
        std::vector<GridAperture> routed;
        const double predicted = route_arc(k, h, w, factor * mean_abs, routed);
        if (!(predicted < 0.0)) break;
        for (int i = 0; i < n; ++i) {
          aperture[static_cast<Index>(f0 + i)] = std::move(routed[static_cast<Index>(i)]);
          fill_dose(f0 + i);
        }
        const double f = optimise_weights(m.options.generation_weight_evaluations);
        if (f < f_before) {
          ++accepted;
          break;
        }
        for (int i = 0; i < n; ++i) {
          aperture[static_cast<Index>(f0 + i)] = kept[static_cast<Index>(i)];
          fill_dose(f0 + i);
        }
        s_mu = kept_mu;
      }
    }
    const double f = settle(0, true);
    result.objective_history.push_back(f);
    m.say("arc re-routing " + std::to_string(pass + 1) + "/" +
          std::to_string(m.options.reroute_passes) + ": " + std::to_string(accepted) +
          " arcs re-routed, objective " + format_number(f));
  }
}

void VmatPlanner::Impl::Generator::route(VmatResult& result) {
  for (int g = 0; g < total; ++g) {  // every control point closed at the field's centre
    const auto& L = matrix(g).layout;
    GridAperture ap;
    ap.b.assign(static_cast<Index>(L.rows), L.columns / 2);
    ap.a = ap.b;
    join(g, std::move(ap));
  }
  for (int k = 0; k < static_cast<int>(m.arcs.size()); ++k) {
    Eigen::VectorXf gf;
    if (k == 0) {
      // Prices where a plan would be once the target is nearly covered: what each structure's
      // objectives ask of one more MU there (a cold target would open over everything).
      std::vector<double> d(np, m.options.route_dose_fraction * rx);
      std::vector<double> grad;
      objective_terms(t, d, rx, grad);
      gf.resize(static_cast<Eigen::Index>(np));
      for (std::size_t p = 0; p < np; ++p) {
        gf[static_cast<Eigen::Index>(p)] = static_cast<float>(grad[p] * (1.0 - tr));
      }
    } else {
      gf = fluence_gradient();
    }
    const int f0 = first[static_cast<Index>(k)];
    const int n = m.arcs[static_cast<Index>(k)].cps();
    std::vector<Eigen::VectorXf> h(static_cast<Index>(n));
#pragma omp parallel for schedule(dynamic)
    for (int i = 0; i < n; ++i) {
      h[static_cast<Index>(i)] = matrix(f0 + i).dose_per_mu.transpose_times(gf);
    }
    std::vector<GridAperture> routed;
    route_arc(k, h, Eigen::VectorXd::Ones(static_cast<Eigen::Index>(order.size())), 0.0, routed);
    for (int i = 0; i < n; ++i) {
      aperture[static_cast<Index>(f0 + i)] = std::move(routed[static_cast<Index>(i)]);
      fill_dose(f0 + i);
    }
    // The full model's correction every few arcs and after the last (settle).
    const double f = settle(k + 1, k + 1 == static_cast<int>(m.arcs.size()));
    result.objective_history.push_back(f);
    m.say("arc " + std::to_string(k + 1) + "/" + std::to_string(m.arcs.size()) +
          " routed, objective " + format_number(f));
  }
}

}  // namespace linac::planning
