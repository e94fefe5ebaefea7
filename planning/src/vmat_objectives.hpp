#pragma once
// The VMAT optimiser's objectives (planning/src only): the terms on sampled points of each
// structure, their value and gradient with respect to the dose at the points.
#include <vector>

#include "linac/planning/vmat.hpp"

namespace linac::planning {

/// One objective and the optimisation points of its structure.
struct Term {
  Objective objective;
  std::vector<int> points;
};

/// The objective of `dose` (Gy per fraction at each point; `rx` the prescription per fraction)
/// and its gradient with respect to each point's dose in `g`: quadratic penalties below / above
/// levels, mean doses, and DVH terms on the points between the level and the dose at the volume.
double objective_terms(const std::vector<Term>& terms, const std::vector<double>& dose, double rx,
                       std::vector<double>& g);

}  // namespace linac::planning
