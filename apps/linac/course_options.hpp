#pragma once
// The options of one treatment course (`linac course`), kept in course_options.json so that
// `--resume` finishes the course as it was started.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace linac::cli {

struct CourseOptions {
  std::string case_dir;
  std::string daemon;
  std::string server_key;  // with --daemon
  std::string client_key;
  unsigned fractions = 5;
  std::uint64_t seed = 1;
  double spacing_mm = 2.5;
  double dose_grid_mm = 3.0;
  double cp_spacing_deg = 2.0;
  int iterations = 150;
  std::size_t points = 4000;
  int projections = 180;
  double delivered_dose_grid_mm = 6.0;
  double systematic_mm = 2.0;  // set-up error model: per-axis SD of the course's systematic
  double random_mm = 3.0;      // and of each fraction's random error (van Herk)
  double rotation_deg = 0.7;   // SD of each rotation
  std::string plan_template;   // absolute path; empty: the reference case's objectives
  std::string apertures = "conformal";
  std::string overlap = "target";
  bool border_points = false;  // every voxel of the target's border an optimisation point

  [[nodiscard]] nlohmann::json to_json() const {
    return {{"case", case_dir},
            {"daemon", daemon},
            {"server_key", server_key},
            {"client_key", client_key},
            {"fractions", fractions},
            {"seed", seed},
            {"spacing_mm", spacing_mm},
            {"dose_grid_mm", dose_grid_mm},
            {"cp_spacing_deg", cp_spacing_deg},
            {"iterations", iterations},
            {"points", points},
            {"projections", projections},
            {"delivered_dose_grid_mm", delivered_dose_grid_mm},
            {"systematic_mm", systematic_mm},
            {"random_mm", random_mm},
            {"rotation_deg", rotation_deg},
            {"template", plan_template},
            {"apertures", apertures},
            {"overlap", overlap},
            {"border_points", border_points}};
  }
  static CourseOptions from_json(const nlohmann::json& j) {
    CourseOptions o;
    o.case_dir = j.value("case", "");
    o.daemon = j.value("daemon", "");
    o.server_key = j.value("server_key", "");
    o.client_key = j.value("client_key", "");
    o.fractions = j.value("fractions", 5U);
    o.seed = j.value("seed", std::uint64_t{1});
    o.spacing_mm = j.value("spacing_mm", 2.5);
    o.dose_grid_mm = j.value("dose_grid_mm", 3.0);
    o.cp_spacing_deg = j.value("cp_spacing_deg", 2.0);
    o.iterations = j.value("iterations", 150);
    o.points = j.value("points", std::size_t{4000});
    o.projections = j.value("projections", 180);
    o.delivered_dose_grid_mm = j.value("delivered_dose_grid_mm", 6.0);
    o.systematic_mm = j.value("systematic_mm", 2.0);
    o.random_mm = j.value("random_mm", 3.0);
    o.rotation_deg = j.value("rotation_deg", 0.7);
    o.plan_template = j.value("template", "");
    o.apertures = j.value("apertures", "conformal");
    o.overlap = j.value("overlap", "target");
    o.border_points = j.value("border_points", false);
    return o;
  }
};

}  // namespace linac::cli
