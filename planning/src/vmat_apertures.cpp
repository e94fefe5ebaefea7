// Aperture generation for VMAT by column generation (Romeijn et al. 2005 for IMRT; Peng,
// Epelman and Romeijn 2012 for VMAT): starting from no apertures, each round prices every
// control point that has none yet. A control point's price is the derivative of the objective
// with respect to the MU of the best single-interval-per-leaf-pair aperture it could deliver,
// found exactly per leaf pair from the beamlets' gradient (dF/d fluence = Aᵀ dF/d dose) under
// the leaf travel allowed from the control points that already have apertures. The cheapest
// apertures join, then the weights of all apertures are re-optimised (non-negative, L-BFGS).
// Apertures therefore appear where, and with the shape that, the objective rewards most: around
// a concave target the pricing opens the leaves over the target and closes them over the organ
// behind it, which is what leaf-only gradient descent from conformal apertures cannot find.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <nlopt.hpp>

#include "dense_products.hpp"
#include "linac/core/text.hpp"
#include "thread_partials.hpp"
#include "vmat_generator.hpp"

namespace linac::planning {

namespace {

/// One leaf pair's open columns [b, a) minimising the sum of `h` over them, with b and a within
/// `reach` and b <= a. Ties go to the closed pair nearest `centre`.
std::pair<int, int> best_interval(const float* h, int columns, const Reach& reach, int centre,
                                  std::vector<double>& prefix, double& price) {
  prefix.assign(static_cast<std::size_t>(columns) + 1, 0.0);
  for (int c = 0; c < columns; ++c) {
    prefix[static_cast<std::size_t>(c) + 1] =
        prefix[static_cast<std::size_t>(c)] + static_cast<double>(h[c]);
  }
  double best = std::numeric_limits<double>::infinity();
  int best_b = reach.b_min;
  int best_a = std::max(reach.b_min, reach.a_min);
  double run_max = -std::numeric_limits<double>::infinity();
  int run_arg = reach.b_min;
  int next_b = reach.b_min;
  for (int a = reach.a_min; a <= reach.a_max; ++a) {
    while (next_b <= std::min(reach.b_max, a)) {
      if (prefix[static_cast<std::size_t>(next_b)] > run_max) {
        run_max = prefix[static_cast<std::size_t>(next_b)];
        run_arg = next_b;
      }
      ++next_b;
    }
    if (next_b == reach.b_min) continue;  // no b <= a yet
    const double v = prefix[static_cast<std::size_t>(a)] - run_max;
    if (v < best) {
      best = v;
      best_b = run_arg;
      best_a = a;
    }
  }
  // Nothing worth opening: closed, as near the field's centre as the reach allows.
  const int lo = std::max(reach.b_min, reach.a_min);
  const int hi = std::min(reach.b_max, reach.a_max);
  if (best >= 0.0 && lo <= hi) {
    best = 0.0;
    best_b = best_a = std::clamp(centre, lo, hi);
  }
  price = best;
  return {best_b, best_a};
}

}  // namespace

double VmatPlanner::Impl::conformal_mu_per_control_point() const {
  const std::size_t np = opt_points.size();
  Eigen::VectorXf dose = Eigen::VectorXf::Zero(static_cast<Eigen::Index>(np));
  for (const auto& arc : arcs) {
    for (int i = 0; i < arc.cps(); ++i) {
      const auto& m = arc.matrices[static_cast<std::size_t>(i)];
      const auto& L = m.layout;
      Eigen::VectorXf f = Eigen::VectorXf::Zero(L.count());
      for (int r = 0; r < L.rows; ++r) {
        const double a = arc.init_hi[static_cast<std::size_t>(i)][static_cast<std::size_t>(r)];
        const double b = arc.init_lo[static_cast<std::size_t>(i)][static_cast<std::size_t>(r)];
        for (int c = 0; c < L.columns; ++c) {
          const double lo = L.column_lo(c);
          const double hi = L.column_hi(c);
          f[r * L.columns + c] =
              static_cast<float>(std::max(0.0, std::min(a, hi) - std::max(b, lo)) / (hi - lo));
        }
      }
      dose += m.dose_per_mu * f;
    }
  }
  const auto& target = target_sample;
  double mean = 0.0;
  for (const int p : target) mean += static_cast<double>(dose[p]);
  mean /= static_cast<double>(std::max<std::size_t>(1, target.size()));
  return mean > 0.0 ? rx_fraction() / mean : 0.0;
}

VmatPlanner::Impl::Generator::Generator(const Impl& impl, const std::vector<Term>& terms)
    : m(impl),
      t(terms),
      np(impl.opt_points.size()),
      tr(impl.profile.mlc.transmission),
      half_dlg(0.5 * impl.profile.mlc.dosimetric_leaf_gap_mm),
      gap(impl.profile.mlc.min_dynamic_gap_mm),
      rx(impl.rx_fraction()) {
  for (std::size_t k = 0; k < m.arcs.size(); ++k) {
    first.push_back(static_cast<int>(cp_of.size()));
    seg_first.push_back(segments);
    segments += m.arcs[k].cps() - 1;
    for (int i = 0; i < m.arcs[k].cps(); ++i) cp_of.emplace_back(static_cast<int>(k), i);
  }
  total = static_cast<int>(cp_of.size());
  aperture.resize(static_cast<Index>(total));
  column.assign(static_cast<Index>(total), -1);
  dose_of.resize(static_cast<Eigen::Index>(np), total);
  // Within the DAO's bounds (inside the machine's MU-per-degree limits), and during
  // generation at most a multiple of what conformal apertures need: the greedy generation would
  // otherwise load the first apertures with the whole dose.
  const double cap = m.options.generation_mu_cap * m.conformal_mu_per_control_point();
  for (std::size_t k = 0; k < m.arcs.size(); ++k) {
    const double spacing = m.arcs[k].spacing_deg;
    for (int i = 0; i + 1 < m.arcs[k].cps(); ++i) {
      const double lo = 1.1 * m.profile.dose.min_mu_per_deg * spacing;
      s_min.push_back(lo);
      s_max.push_back(std::clamp(cap, lo, 0.75 * m.profile.dose.max_mu_per_deg * spacing));
    }
  }
  s_mu = Eigen::Map<const Eigen::VectorXd>(s_min.data(), segments);
}

Eigen::VectorXd VmatPlanner::Impl::Generator::cp_weights(const Eigen::VectorXd& sv) const {
  Eigen::VectorXd wv(static_cast<Eigen::Index>(order.size()));
  for (std::size_t c = 0; c < order.size(); ++c) {
    const auto [k, i] = cp_of[static_cast<Index>(order[c])];
    const int s0 = seg_first[static_cast<Index>(k)];
    double v = 0.0;
    if (i > 0) v += 0.5 * sv[s0 + i - 1];
    if (i + 1 < m.arcs[static_cast<Index>(k)].cps()) v += 0.5 * sv[s0 + i];
    wv[static_cast<Eigen::Index>(c)] = v;
  }
  return wv;
}

std::pair<double, double> VmatPlanner::Impl::Generator::leaves(const BeamletLayout& L, int b,
                                                               int a) const {
  auto pos = [&](int j) { return j < L.columns ? L.column_lo(j) : L.column_hi(L.columns - 1); };
  if (a <= b) return {pos(b) + 0.5 * gap, pos(b) - 0.5 * gap};
  return {pos(a), pos(b)};
}

void VmatPlanner::Impl::Generator::fill_dose(int g) {
  const auto& mat = matrix(g);
  const auto& L = mat.layout;
  const auto& ap = aperture[static_cast<Index>(g)];
  Eigen::VectorXf f(L.count());
  for (int r = 0; r < L.rows; ++r) {
    const auto [la, lb] = leaves(L, ap.b[static_cast<Index>(r)], ap.a[static_cast<Index>(r)]);
    const double a = la + half_dlg;
    const double b = lb - half_dlg;
    for (int c = 0; c < L.columns; ++c) {
      const double lo = L.column_lo(c);
      const double hi = L.column_hi(c);
      const double open = std::max(0.0, std::min(a, hi) - std::max(b, lo)) / (hi - lo);
      f[r * L.columns + c] = static_cast<float>(tr + (1.0 - tr) * open);
    }
  }
  dose_of.col(column[static_cast<Index>(g)]) = mat.dose_per_mu * f;
}

void VmatPlanner::Impl::Generator::dose_at(const Eigen::VectorXd& weights,
                                           std::vector<double>& d) const {
  const auto n = static_cast<Eigen::Index>(order.size());
  Eigen::VectorXf v = Eigen::VectorXf::Zero(static_cast<Eigen::Index>(np));
  if (n > 0) v = times(dose_of, n, weights.cast<float>());
  d.resize(np);
  for (std::size_t p = 0; p < np; ++p) {
    d[p] = correction.at(p, static_cast<double>(v[static_cast<Eigen::Index>(p)]));
  }
}

Eigen::VectorXf VmatPlanner::Impl::Generator::fluence_gradient() const {
  std::vector<double> dose;
  std::vector<double> grad;
  dose_at(cp_weights(s_mu), dose);
  objective_terms(t, dose, rx, grad);
  Eigen::VectorXf gf(static_cast<Eigen::Index>(np));
  for (std::size_t p = 0; p < np; ++p) {
    const double sc = correction.scale.empty() ? 1.0 : static_cast<double>(correction.scale[p]);
    gf[static_cast<Eigen::Index>(p)] = static_cast<float>(grad[p] * sc * (1.0 - tr));
  }
  return gf;
}

double VmatPlanner::Impl::Generator::optimise_weights(int evaluations) {
  if (order.empty()) return 0.0;
  const auto n = static_cast<std::size_t>(segments);
  nlopt::opt opt(nlopt::LD_LBFGS, static_cast<unsigned>(n));
  opt.set_lower_bounds(s_min);
  opt.set_upper_bounds(s_max);
  opt.set_maxeval(evaluations);
  opt.set_ftol_rel(1e-6);
  std::function<double(const std::vector<double>&, std::vector<double>&)> fn =
      [&](const std::vector<double>& v, std::vector<double>& g) {
        const Eigen::VectorXd sv =
            Eigen::Map<const Eigen::VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
        std::vector<double> d;
        dose_at(cp_weights(sv), d);
        std::vector<double> gd;
        double f = objective_terms(t, d, rx, gd);
        if (g.empty()) return f + mu_smoothness(v, nullptr);
        Eigen::VectorXf gf(static_cast<Eigen::Index>(gd.size()));
        for (std::size_t p = 0; p < gd.size(); ++p) {
          const double sc =
              correction.scale.empty() ? 1.0 : static_cast<double>(correction.scale[p]);
          gf[static_cast<Eigen::Index>(p)] = static_cast<float>(gd[p] * sc);
        }
        const Eigen::VectorXf gw =
            transpose_times(dose_of, static_cast<Eigen::Index>(order.size()), gf);
        std::fill(g.begin(), g.end(), 0.0);
        f += mu_smoothness(v, &g);
        for (std::size_t c = 0; c < order.size(); ++c) {
          const auto [k, i] = cp_of[static_cast<Index>(order[c])];
          const auto s0 = static_cast<Index>(seg_first[static_cast<Index>(k)]);
          const double gc = 0.5 * static_cast<double>(gw[static_cast<Eigen::Index>(c)]);
          if (i > 0) g[s0 + static_cast<Index>(i) - 1] += gc;
          if (i + 1 < m.arcs[static_cast<Index>(k)].cps()) g[s0 + static_cast<Index>(i)] += gc;
        }
        return f;
      };
  opt.set_min_objective([](const std::vector<double>& v, std::vector<double>& g,
                           void* data) { return (*static_cast<decltype(fn)*>(data))(v, g); },
                        &fn);
  std::vector<double> v(s_mu.data(), s_mu.data() + n);
  double f = 0.0;
  try {
    opt.optimize(v, f);
  } catch (const nlopt::roundoff_limited&) {
  } catch (const std::runtime_error&) {
    // NLopt's generic failure after progress: keep the best point it returned.
  }
  for (std::size_t k = 0; k < n; ++k) {
    s_mu[static_cast<Eigen::Index>(k)] = std::clamp(v[k], s_min[k], s_max[k]);
  }
  return f;
}

double VmatPlanner::Impl::Generator::mu_smoothness(const std::vector<double>& sv,
                                                   std::vector<double>* g) const {
  // The DAO's penalty on the segment MU's jumps along each arc (Impl::mu_smoothness), so that
  // generation ends where the DAO's MU fit starts: w / pairs x sum of ln(MU ratio)^2. Generated
  // starts only: greedy generation leaves the MU swinging, and the DAO's MU fit then smoothed
  // away what it had gained (main job's settings: objective 56.4 -> 71.1; with the penalty
  // 56.5 -> 56.5). Routed arcs are priced at one weight per control point and end smoother; the
  // penalty there left the main job's plan as it was and cost the test case's FLS 1.7 Gy.
  const double w =
      m.options.start == VmatOptions::Start::kGenerated ? m.options.mu_smoothness_weight : 0.0;
  std::size_t pairs = 0;
  for (const auto& arc : m.arcs) pairs += static_cast<std::size_t>(std::max(0, arc.cps() - 2));
  if (!(w > 0.0) || pairs == 0) return 0.0;
  const double c = w / static_cast<double>(pairs);
  double f = 0.0;
  for (std::size_t k = 0; k < m.arcs.size(); ++k) {
    const auto s0 = static_cast<std::size_t>(seg_first[k]);
    for (int s = 0; s + 2 < m.arcs[k].cps(); ++s) {
      const std::size_t j = s0 + static_cast<std::size_t>(s);
      if (!(sv[j] > 0.0 && sv[j + 1] > 0.0)) continue;
      const double step = std::log(sv[j + 1] / sv[j]);
      f += c * step * step;
      if (g != nullptr) {
        (*g)[j + 1] += 2.0 * c * step / sv[j + 1];
        (*g)[j] -= 2.0 * c * step / sv[j];
      }
    }
  }
  return f;
}

void VmatPlanner::Impl::Generator::correct() {
  const Eigen::VectorXd w = cp_weights(s_mu);
  const std::vector<float> full = m.full_dose_of([&](int k, int i) {
    const int g = first[static_cast<Index>(k)] + i;
    const int col = column[static_cast<Index>(g)];
    if (col < 0 || !(w[col] > 0.0)) return std::pair<Aperture, double>{Aperture{}, 0.0};
    const auto& arc = m.arcs[static_cast<Index>(k)];
    const auto& L = arc.matrices[static_cast<Index>(i)].layout;
    const auto& ga = aperture[static_cast<Index>(g)];
    const Aperture ap = m.aperture_of(arc, [&](int r) {
      return leaves(L, ga.b[static_cast<Index>(r)], ga.a[static_cast<Index>(r)]);
    });
    return std::pair<Aperture, double>{ap, w[col]};
  });
  correction = {};
  std::vector<double> beamlets;
  dose_at(w, beamlets);
  correction = m.fit_correction(full, beamlets);
}

int VmatPlanner::Impl::Generator::travel_step(int k) const {
  const auto& arc = m.arcs[static_cast<Index>(k)];
  // A fraction of the leaf travel the machine allows per control point at full gantry speed:
  // the MLC then follows with room to spare when the gantry runs fast.
  const double travel = m.options.generation_travel_fraction *
                            m.profile.mlc.max_leaf_speed_mm_per_s * arc.spacing_deg /
                            m.profile.gantry.max_speed_deg_per_s -
                        gap - 0.05;
  return std::max(1, static_cast<int>(std::floor(travel / m.options.beamlet_width_mm)));
}

Reach VmatPlanner::Impl::Generator::reach_of(int g, int r, int columns) const {
  const auto [k, i] = cp_of[static_cast<Index>(g)];
  const auto& arc = m.arcs[static_cast<Index>(k)];
  const int step = travel_step(k);
  const int f0 = first[static_cast<Index>(k)];
  Reach reach{0, columns, 0, columns};
  const auto rr = static_cast<Index>(r);
  int near[2] = {-1, -1};  // the nearest control points with apertures before and after
  for (int side = 0; side < 2; ++side) {
    const int dir = side == 0 ? -1 : 1;
    for (int j = i + dir; j >= 0 && j < arc.cps(); j += dir) {
      if (column[static_cast<Index>(f0 + j)] < 0) continue;
      near[side] = j;
      const auto& na = aperture[static_cast<Index>(f0 + j)];
      const int d = step * std::abs(j - i);
      reach.b_min = std::max(reach.b_min, na.b[rr] - d);
      reach.b_max = std::min(reach.b_max, na.b[rr] + d);
      reach.a_min = std::max(reach.a_min, na.a[rr] - d);
      reach.a_max = std::min(reach.a_max, na.a[rr] + d);
      break;
    }
  }
  if (near[0] >= 0 && near[1] >= 0) {
    // Between two apertures: near the line joining them, so that leaves do not zig-zag (the MLC
    // reverses slowly, and a log full of reversals trips the leaf-deviation interlock).
    const auto& lo = aperture[static_cast<Index>(f0 + near[0])];
    const auto& hi = aperture[static_cast<Index>(f0 + near[1])];
    const double w = static_cast<double>(i - near[0]) / static_cast<double>(near[1] - near[0]);
    const double dev = std::max(1.0, 0.5 * step * std::min(i - near[0], near[1] - i));
    const double b = lo.b[rr] + w * (hi.b[rr] - lo.b[rr]);
    const double a = lo.a[rr] + w * (hi.a[rr] - lo.a[rr]);
    reach.b_min = std::max(reach.b_min, static_cast<int>(std::floor(b - dev)));
    reach.b_max = std::min(reach.b_max, static_cast<int>(std::ceil(b + dev)));
    reach.a_min = std::max(reach.a_min, static_cast<int>(std::floor(a - dev)));
    reach.a_max = std::min(reach.a_max, static_cast<int>(std::ceil(a + dev)));
  }
  return reach;
}

GridAperture VmatPlanner::Impl::Generator::price_aperture(int g, const Eigen::VectorXf& h,
                                                          std::vector<double>& prefix) const {
  const auto& L = matrix(g).layout;
  GridAperture ap;
  ap.b.assign(static_cast<Index>(L.rows), 0);
  ap.a.assign(static_cast<Index>(L.rows), 0);
  for (int r = 0; r < L.rows; ++r) {
    double price = 0.0;
    const auto [bl, al] =
        best_interval(h.data() + static_cast<std::ptrdiff_t>(r) * L.columns, L.columns,
                      reach_of(g, r, L.columns), L.columns / 2, prefix, price);
    ap.b[static_cast<Index>(r)] = bl;
    ap.a[static_cast<Index>(r)] = al;
    ap.price += price;
  }
  return ap;
}

void VmatPlanner::Impl::Generator::join(int g, GridAperture ap) {
  aperture[static_cast<Index>(g)] = std::move(ap);
  column[static_cast<Index>(g)] = static_cast<int>(order.size());
  order.push_back(g);
  fill_dose(g);
}

double VmatPlanner::Impl::Generator::settle(int round, bool force_correction) {
  double f = optimise_weights(m.options.generation_weight_evaluations);
  if (force_correction || round % std::max(1, m.options.generation_correct_every) == 0) {
    correct();  // the kernels' tails beyond the beamlets, from the full model
    f = optimise_weights(m.options.generation_weight_evaluations);
  }
  return f;
}

int VmatPlanner::Impl::Generator::generate(VmatResult& result) {
  const int batch = std::max(1, total / std::max(1, m.options.generation_rounds));
  int assigned = 0;
  int round = 0;
  std::vector<Eigen::VectorXf> gradient(static_cast<Index>(total));
  std::vector<double> price(static_cast<Index>(total), 0.0);
  std::vector<double> prefix;
  while (assigned < total) {
    ++round;
    const Eigen::VectorXf gf = fluence_gradient();
    // Price every control point without an aperture (dF/d open fluence of its beamlets).
    std::vector<int> pending;
    for (int g = 0; g < total; ++g) {
      if (column[static_cast<Index>(g)] < 0) pending.push_back(g);
    }
#pragma omp parallel
    {
      std::vector<double> pre;
#pragma omp for schedule(dynamic)
      for (std::size_t n = 0; n < pending.size(); ++n) {
        const auto g = static_cast<Index>(pending[n]);
        gradient[g] = matrix(pending[n]).dose_per_mu.transpose_times(gf);
        price[g] = price_aperture(pending[n], gradient[g], pre).price;
      }
    }
    std::sort(pending.begin(), pending.end(), [&](int x, int y) {
      return price[static_cast<Index>(x)] < price[static_cast<Index>(y)];
    });
    const double best = price[static_cast<Index>(pending.front())];
    if (best >= 0.0) {
      // Nothing left lowers the objective: the rest of each arc takes apertures between its
      // neighbours' (the machine delivers some MU at every control point; apertures like the
      // neighbours' add dose their weights can take back).
      for (const int g : pending) {
        const auto& L = matrix(g).layout;
        GridAperture ap;
        for (int r = 0; r < L.rows; ++r) {
          const Reach reach = reach_of(g, r, L.columns);
          ap.b.push_back((reach.b_min + reach.b_max) / 2);
          ap.a.push_back(std::max(ap.b.back(), (reach.a_min + reach.a_max + 1) / 2));
        }
        join(g, std::move(ap));
      }
      assigned = total;
    } else {
      // The cheapest join, each re-priced within the reach of those joined before it.
      for (std::size_t n = 0; n < pending.size() && n < static_cast<std::size_t>(batch); ++n) {
        const int g = pending[n];
        if (price[static_cast<Index>(g)] >= 0.0) break;
        join(g, price_aperture(g, gradient[static_cast<Index>(g)], prefix));
        ++assigned;
      }
    }
    const double f = settle(round, assigned == total);
    result.objective_history.push_back(f);
    m.say("apertures: " + std::to_string(assigned) + "/" + std::to_string(total) +
          " control points, objective " + format_number(f));
  }
  return round;
}

void VmatPlanner::Impl::Generator::exchange(VmatResult& result) {
  // Each control point in turn (a quarter of each arc per round, their neighbours held) takes
  // the best aperture within its neighbours' reach when that prices lower than its own. Greedy
  // generation fixes the first apertures while the target is cold and everything pays to open;
  // exchange lets them trade that coverage for sparing once the target is covered.
  for (int sweep = 0; sweep < m.options.exchange_sweeps; ++sweep) {
    int changed = 0;
    for (int turn_of = 0; turn_of < 4; ++turn_of) {
      const Eigen::VectorXf gf = fluence_gradient();
      std::vector<int> turn;
      for (int g = 0; g < total; ++g) {
        if (cp_of[static_cast<Index>(g)].second % 4 == turn_of) turn.push_back(g);
      }
      std::vector<GridAperture> better(turn.size());
      std::vector<char> replace(turn.size(), 0);
#pragma omp parallel
      {
        std::vector<double> pre;
#pragma omp for schedule(dynamic)
        for (std::size_t n = 0; n < turn.size(); ++n) {
          const auto& mat = matrix(turn[n]);
          const auto& L = mat.layout;
          const Eigen::VectorXf h = mat.dose_per_mu.transpose_times(gf);
          const auto& cur = aperture[static_cast<Index>(turn[n])];
          double own = 0.0;
          for (int r = 0; r < L.rows; ++r) {
            for (int c = cur.b[static_cast<Index>(r)]; c < cur.a[static_cast<Index>(r)]; ++c) {
              own += static_cast<double>(h[r * L.columns + c]);
            }
          }
          better[n] = price_aperture(turn[n], h, pre);
          replace[n] = better[n].price < own - 1e-6 * std::abs(own) ? 1 : 0;
        }
      }
      // The prices are the objective linearised at the current dose: replacing a quarter of
      // every arc at once can overshoot (with a long leaf travel the new apertures differ
      // wholly from the old), so in a generated start a turn whose objective rises, after the
      // weights are fitted again, is undone (an 8-arc plan went from 51 to 117 without). A
      // routed start keeps such turns: its re-routing, which follows, starts from them and
      // ends lower (TG-119's C-shape, seed 1: objective 1.75 against 2.28 when they are undone,
      // the sweeps after the first correction then changing nothing; core D10 22.2-23.2 Gy
      // against 24.2-26.0 Gy over seeds 1-4; ADR 0009).
      const bool undo_rises = m.options.start == VmatOptions::Start::kGenerated;
      const double f_before = objective();
      const Eigen::VectorXd kept_mu = s_mu;
      std::vector<GridAperture> kept(turn.size());
      int turn_changed = 0;
      for (std::size_t n = 0; n < turn.size(); ++n) {
        if (replace[n] == 0) continue;
        kept[n] = std::move(aperture[static_cast<Index>(turn[n])]);
        aperture[static_cast<Index>(turn[n])] = std::move(better[n]);
        fill_dose(turn[n]);
        ++turn_changed;
      }
      if (turn_changed == 0) continue;
      if (optimise_weights(m.options.generation_weight_evaluations) > f_before && undo_rises) {
        for (std::size_t n = 0; n < turn.size(); ++n) {
          if (replace[n] == 0) continue;
          aperture[static_cast<Index>(turn[n])] = std::move(kept[n]);
          fill_dose(turn[n]);
        }
        s_mu = kept_mu;
        continue;
      }
      changed += turn_changed;
    }
    const double f = settle(sweep + 1, sweep + 1 == m.options.exchange_sweeps);
    result.objective_history.push_back(f);
    m.say("aperture exchange " + std::to_string(sweep + 1) + "/" +
          std::to_string(m.options.exchange_sweeps) + ": " + std::to_string(changed) +
          " apertures changed, objective " + format_number(f));
  }
}

std::vector<double> VmatPlanner::Impl::Generator::variables() const {
  std::vector<double> x(static_cast<Index>(m.variables), 0.0);
  for (int g = 0; g < total; ++g) {
    const auto [k, i] = cp_of[static_cast<Index>(g)];
    const auto& arc = m.arcs[static_cast<Index>(k)];
    const auto& L = arc.matrices[static_cast<Index>(i)].layout;
    const auto& ga = aperture[static_cast<Index>(g)];
    for (int r = 0; r < arc.rows; ++r) {
      const auto [la, lb] = leaves(L, ga.b[static_cast<Index>(r)], ga.a[static_cast<Index>(r)]);
      const auto v = static_cast<Index>(arc.leaf_var(i, r));
      x[v] = 0.5 * (la + lb) / kLeafScale;
      x[v + 1] = std::max(0.5 * (la - lb), 0.5 * gap + 0.01) / kLeafScale;
    }
    if (i + 1 < arc.cps()) x[arc.seg(i)] = s_mu[seg_first[static_cast<Index>(k)] + i];
  }
  return x;
}

std::vector<double> VmatPlanner::Impl::generate_apertures(const std::vector<Term>& t,
                                                          VmatResult& result) const {
  const auto t0 = std::chrono::steady_clock::now();
  Generator generator(*this, t);
  if (options.start == VmatOptions::Start::kRouted) {
    // Arcs routed whole, exchanged, then re-routed whole (ADR 0009, addendum).
    generator.route(result);
    generator.exchange(result);
    generator.reroute(result);
  } else {
    result.generation_rounds = generator.generate(result);
    generator.exchange(result);
  }
  result.generation_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return generator.variables();
}

}  // namespace linac::planning
