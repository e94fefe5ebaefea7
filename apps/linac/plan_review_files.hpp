#pragma once
// The plan-review files of `linac plan optimize`: DVHs (CSV, JSON, PNG, plan and baseline) and
// the plan-minus-baseline dose difference maps.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/case.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/planning/evaluation.hpp"
#include "linac/planning/vmat.hpp"

namespace linac::cli {

/// A DVH as a plot series (dose in Gy, volume in %).
PlotSeries dvh_series(const planning::Dvh& h, const std::string& name,
                      std::array<std::uint8_t, 3> rgb, bool dashed);

/// dvh.csv (dose, then % volume per structure, the baseline's columns after), dvh.json and
/// dvh.png (the series, dose axis up to `max_dose_gy` rounded up to 5 Gy) in `dir`.
void write_dvh_files(const std::filesystem::path& dir, const std::vector<planning::Dvh>& curves,
                     const std::vector<planning::Dvh>& base_curves,
                     const std::vector<PlotSeries>& series, double max_dose_gy);

/// The plan's dose minus the baseline's on the planning CT, through the spared structure's
/// centroid (the target's when there is none) in the three planes: where inverse planning moved
/// dose, with the plan's isodoses at 50, 80, 95 and 100 % of the prescription and the target,
/// the spared structure and the body outlined. Returns the files written.
std::vector<std::filesystem::path> write_difference_maps(const std::filesystem::path& dir,
                                                         const Case& c,
                                                         const Volume<float>& plan_gy,
                                                         const Volume<float>& baseline_gy,
                                                         const planning::VmatOptions& vo);

}  // namespace linac::cli
