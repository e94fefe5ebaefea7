#pragma once
// One fraction of `linac course`: the simulator daemon (unless one is given), CBCT image guidance
// and couch correction, delivery through the machine link, the logs' QA and the dose estimated
// from them, each a `linac` command run as a child process (course_steps.hpp).
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "course_options.hpp"
#include "course_steps.hpp"
#include "linac/core/case.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/plan.hpp"
#include "linac/core/volume.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::cli::course {

/// The dose estimated from the logs: the engine on a coarse grid of the planning CT's body.
class CoarseDose {
 public:
  CoarseDose(const Case& pc, const MachineProfile& profile, double grid_mm);
  /// The plan's dose per fraction on the grid, times `scale`.
  [[nodiscard]] Volume<float> dose(const Plan& plan, double scale) const;
  /// PTV, FLS and liver D95 / mean / D2 of a whole course's dose on the grid.
  [[nodiscard]] json figures(const Volume<float>& dose, unsigned fractions) const;
  [[nodiscard]] const Grid& grid() const { return grid_; }
  [[nodiscard]] const Eigen::Vector3d& isocentre_mm() const { return iso_; }

 private:
  planning::DoseEngine engine_;
  Eigen::Vector3d iso_;
  Grid grid_;
  std::vector<Structure> structures_;
  std::vector<std::size_t> index_;
  planning::Points points_;
};

/// How the fractions reach the machine: the given daemon's keys, or keys made in the course
/// folder for the simulator daemons it starts.
struct MachineLink {
  fs::path keys;
  std::string server_pub, client_key;
};

MachineLink machine_link(const CourseSteps& steps, const CourseOptions& o, const fs::path& dir);

/// What a course's fraction needs beyond its number and set-up error.
struct FractionContext {
  const CourseSteps& steps;
  const CourseOptions& o;
  const MachineLink& link;
  const CoarseDose& coarse;
  const Plan& plan;
  fs::path planning, plan_dir, rtplan, record;
};

/// Fraction n, with its drawn set-up error `e`, into `fdir`: the simulator daemon (unless one is
/// given), CBCT image guidance and couch correction (re-imaged once when asked), delivery, the
/// logs' QA and the dose estimated from them; fraction.json written last.
void treat_fraction(const FractionContext& x, unsigned n, const std::array<double, 6>& e,
                    const fs::path& fdir);

/// The set-up error as the commands take it: x,y,z (mm),rx,ry,rz (deg).
std::string error_text(const std::array<double, 6>& e);

}  // namespace linac::cli::course
