#include "vmat_objectives.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace linac::planning {

std::vector<Objective> default_objectives(const VmatOptions& o) {
  using K = Objective::Kind;
  // Levels in % of the prescription. Organs next to the liver (right kidney, stomach,
  // duodenum) cannot be kept far below it; their objectives cap the dose near the PTV and pull
  // their mean down without fighting the target's coverage.
  std::vector<Objective> v{
      {o.evaluation_target(), K::kMinDose, 101.0, 1000.0},
      {o.evaluation_target(), K::kMaxDose, 104.0, 300.0},
      {"liver", K::kMaxDose, 106.0, 20.0},
      {"kidney_left", K::kMaxDose, 50.0, 2.0},
      {"kidney_right", K::kMaxDose, 80.0, 2.0},
      {"kidney_left", K::kMeanDose, 0.0, 0.5},
      {"kidney_right", K::kMeanDose, 0.0, 0.5},
      {"stomach", K::kMaxDose, 100.0, 5.0},
      {"duodenum", K::kMaxDose, 100.0, 5.0},
      {"bowel", K::kMaxDose, 90.0, 5.0},
      {"spinal_cord", K::kMaxDose, 40.0, 10.0},
      {"ring_10mm", K::kMaxDose, 80.0, 10.0},
      {"ring_30mm", K::kMaxDose, 50.0, 10.0},
  };

  if (o.spared_weight > 0.0 && !o.spared.empty()) {
    v.push_back({o.spared, K::kMeanDose, 0.0, o.spared_weight});
  }
  return v;
}

double objective_terms(const std::vector<Term>& t, const std::vector<double>& dose, double rx,
                       std::vector<double>& g) {
  double f = 0.0;
  g.assign(dose.size(), 0.0);
  std::vector<double> sorted;
  for (const auto& term : t) {
    const double n = static_cast<double>(term.points.size());
    const double level = term.objective.level_pct / 100.0 * rx;
    const double w = term.objective.weight;
    const auto kind = term.objective.kind;
    if (kind == Objective::Kind::kMinDvh || kind == Objective::Kind::kMaxDvh) {
      // The dose at the objective's volume: penalise the points between it and the level.
      sorted.clear();
      for (const int p : term.points) sorted.push_back(dose[static_cast<std::size_t>(p)]);
      const auto rank = static_cast<std::size_t>(
          std::clamp(std::ceil(term.objective.volume_pct / 100.0 * n) - 1.0, 0.0, n - 1.0));
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(rank),
                       sorted.end(), std::greater<>());
      const double at_volume = sorted[rank];
      for (const int p : term.points) {
        const double d = dose[static_cast<std::size_t>(p)];
        if (kind == Objective::Kind::kMaxDvh && d > level && d <= at_volume) {
          f += w * (d - level) * (d - level) / (n * rx * rx);
          g[static_cast<std::size_t>(p)] += 2.0 * w * (d - level) / (n * rx * rx);
        } else if (kind == Objective::Kind::kMinDvh && d < level && d >= at_volume) {
          f += w * (level - d) * (level - d) / (n * rx * rx);
          g[static_cast<std::size_t>(p)] -= 2.0 * w * (level - d) / (n * rx * rx);
        }
      }
      continue;
    }
    if (kind == Objective::Kind::kUniformDose) {
      // f = w sum (d - m)^2 / (n m^2), m the mean; df/dd_i = 2 w ((d_i - m) / m^2 - S / (n m^3))
      // / n with S the sum of squares (the deviations sum to zero).
      double m = 0.0;
      for (const int p : term.points) m += dose[static_cast<std::size_t>(p)];
      m /= std::max(1.0, n);
      if (!(m > 0.0)) continue;
      double s = 0.0;
      for (const int p : term.points) {
        const double e = dose[static_cast<std::size_t>(p)] - m;
        s += e * e;
      }
      f += w * s / (n * m * m);
      for (const int p : term.points) {
        const double e = dose[static_cast<std::size_t>(p)] - m;
        g[static_cast<std::size_t>(p)] += 2.0 * w * (e / (m * m) - s / (n * m * m * m)) / n;
      }
      continue;
    }
    for (const int p : term.points) {
      const double d = dose[static_cast<std::size_t>(p)];
      switch (term.objective.kind) {
        case Objective::Kind::kMinDose:
          if (d < level) {
            f += w * (level - d) * (level - d) / (n * rx * rx);
            g[static_cast<std::size_t>(p)] -= 2.0 * w * (level - d) / (n * rx * rx);
          }
          break;
        case Objective::Kind::kMaxDose:
          if (d > level) {
            f += w * (d - level) * (d - level) / (n * rx * rx);
            g[static_cast<std::size_t>(p)] += 2.0 * w * (d - level) / (n * rx * rx);
          }
          break;
        case Objective::Kind::kMeanDose:
          f += w * d / (n * rx);
          g[static_cast<std::size_t>(p)] += w / (n * rx);
          break;
        case Objective::Kind::kMinDvh:
        case Objective::Kind::kMaxDvh:
        case Objective::Kind::kUniformDose:
          break;  // above
      }
    }
  }
  return f;
}

}  // namespace linac::planning
