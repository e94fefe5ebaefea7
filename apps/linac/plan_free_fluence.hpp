#pragma once
// The free-fluence diagnostic of `linac plan optimize --free-fluence N`: the figures of
// VmatPlanner::fluence_optimum for the plan's objectives (and the baseline's) in plan.json.
#include <nlohmann/json.hpp>

#include "linac/planning/vmat.hpp"

namespace linac::cli {

/// Target D98 / D95 / D2 and the spared structure's mean, D10 and mean outside the target of
/// the free-fluence optimum started from `plan` (and from `baseline` when given), with its
/// evaluations, objectives and time: how far the geometry lets the spared structure's dose fall
/// before any aperture is made.
nlohmann::ordered_json free_fluence_json(const planning::VmatPlanner& planner,
                                         const planning::VmatOptions& vo, int evaluations,
                                         const planning::VmatResult& plan,
                                         const planning::VmatResult* baseline);

}  // namespace linac::cli
