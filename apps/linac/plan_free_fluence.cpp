#include "plan_free_fluence.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "linac/planning/evaluation.hpp"

namespace linac::cli {

nlohmann::ordered_json free_fluence_json(const planning::VmatPlanner& planner,
                                         const planning::VmatOptions& vo, int evaluations,
                                         const planning::VmatResult& plan,
                                         const planning::VmatResult* baseline) {
  const auto& structures = planner.structures_on_dose_grid();
  const Mask* spared = nullptr;
  const Mask* target = nullptr;
  for (const auto& s : structures) {
    if (s.name == vo.spared) spared = &s.mask;
    if (s.name == vo.target) target = &s.mask;
  }
  auto figures = [&](const planning::FluenceOptimum& f) {
    auto r2 = [](double v) { return std::round(v * 100.0) / 100.0; };
    nlohmann::ordered_json j;
    j["evaluations"] = f.evaluations;
    j["start_objective"] = std::round(f.start_objective * 1000.0) / 1000.0;
    j["objective"] = std::round(f.objective * 1000.0) / 1000.0;
    j["seconds"] = std::round(f.seconds * 10.0) / 10.0;
    if (target != nullptr) {
      const auto t = planning::dose_figures(f.dose_gy, *target, vo.target, vo.fractions, 10.0);
      j["target"] = {{"d98_gy", r2(t.d98_gy)}, {"d95_gy", r2(t.d95_gy)}, {"d2_gy", r2(t.d2_gy)}};
    }
    if (spared != nullptr) {
      const auto s = planning::dose_figures(f.dose_gy, *spared, vo.spared, vo.fractions, 2.5);
      double out = 0.0;
      double count = 0.0;
      std::vector<float> doses;
      for (std::size_t k = 0; k < spared->size(); ++k) {
        if ((*spared)[k] != 0) doses.push_back(f.dose_gy[k]);
        if ((*spared)[k] == 0 || (target != nullptr && (*target)[k] != 0)) continue;
        out += static_cast<double>(f.dose_gy[k]);
        count += 1.0;
      }
      // D10: the dose the hottest 10 % of the structure receives at least (TG-119's core figure).
      double d10 = 0.0;
      if (!doses.empty()) {
        const auto rank =
            static_cast<std::size_t>(std::ceil(0.1 * static_cast<double>(doses.size())) - 1.0);
        std::nth_element(doses.begin(), doses.begin() + static_cast<std::ptrdiff_t>(rank),
                         doses.end(), std::greater<>());
        d10 = static_cast<double>(doses[rank]);
      }
      j["spared"] = {{"name", vo.spared},
                     {"mean_gy", r2(s.mean_gy)},
                     {"d10_gy", r2(d10)},
                     {"outside_target_mean_gy", count > 0.0 ? r2(out / count) : 0.0}};
    }
    return j;
  };
  nlohmann::ordered_json j;
  j["plan"] = figures(planner.fluence_optimum(plan, true, evaluations));
  if (baseline != nullptr) {
    j["baseline"] = figures(planner.fluence_optimum(*baseline, false, evaluations));
  }
  return j;
}

}  // namespace linac::cli
