#pragma once
// Plan templates: the prescription, arcs and objectives of a plan as a JSON file, so that any
// case can be planned. Doses in Gy (whole course), volumes in %, weights >= 0:
//
//   {"prescription_gy": 50, "fractions": 25, "target": "PTV",
//    "arcs": [{"start_deg": 181, "stop_deg": 179, "direction": "cw", "collimator_deg": 30}],
//    "objectives": [{"structure": "PTV", "type": "min_dose", "dose_gy": 50, "weight": 100},
//                   {"structure": "core", "type": "max_dvh", "dose_gy": 10, "volume_pct": 10,
//                    "weight": 60}]}
//
// `type` is min_dose, max_dose, mean_dose, min_dvh or max_dvh; `arcs` may be left out (two full
// arcs); an arc's optional "x_jaws" is full, x1_half or x2_half (split arcs, ArcSpec::XJaws).
// An optional "mu_smoothness" (>= 0) weighs the MU per degree's smoothness along the arcs
// (VmatOptions::mu_smoothness_weight); optional "leaf_travel_fraction" and
// "generation_travel_fraction" (in (0, 4]) the leaf travel per control point the plan and its
// generated or routed apertures may use (VmatOptions::leaf_travel_fraction,
// generation_travel_fraction): the modulation bought with beam time. An optional
// "reroute_passes" (integer in [0, 10]) sets the routed start's whole-arc re-routing passes
// (VmatOptions::reroute_passes).
// Every value is checked; errors name the file and the objective.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "linac/planning/vmat.hpp"

namespace linac::planning {

struct PlanTemplate {
  std::string source;
  double prescription_gy = 20.0;
  unsigned fractions = 5;
  std::string target = "PTV";
  std::vector<ArcSpec> arcs;                         // empty: VmatOptions' default two full arcs
  std::optional<double> mu_smoothness;               // absent: VmatOptions' default
  std::optional<double> leaf_travel_fraction;        // absent: VmatOptions' default
  std::optional<double> generation_travel_fraction;  // absent: VmatOptions' default
  std::optional<int> reroute_passes;                 // absent: VmatOptions' default
  struct Item {
    std::string structure;
    Objective::Kind kind = Objective::Kind::kMaxDose;
    double dose_gy = 0.0;
    double volume_pct = 0.0;
    double weight = 1.0;
    std::string where;  // "objectives[2] (core max_dvh)"
  };
  std::vector<Item> objectives;
};

/// Reads and checks a template; throws InputError naming the file and the objective.
PlanTemplate read_plan_template(const std::filesystem::path& path);

/// The structures the optimiser makes itself, which templates may name: the body 10 and 30 mm
/// beyond the target.
std::vector<std::string> optimiser_structures();

/// Sets the prescription, fractions, target, arcs and objectives of `options` from the template.
/// Every objective's structure must be one of `structures` (the case's) or of
/// optimiser_structures(); objectives on the target act on its evaluation part (without the
/// skin's build-up region).
void apply_plan_template(const PlanTemplate& t, const std::vector<std::string>& structures,
                         VmatOptions& options);

}  // namespace linac::planning
