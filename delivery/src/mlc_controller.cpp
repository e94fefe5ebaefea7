#include "linac/delivery/mlc_controller.hpp"

#include <algorithm>
#include <cstddef>
#include <map>

#include "linac/core/text.hpp"

namespace linac::delivery {
namespace {

// Positions within this of a jaw count as under it (a planning system parks closed pairs at the
// jaw's own coordinate; DICOM keeps 0.1 mm).
constexpr double kJawToleranceMm = 0.05;

struct PairOpened {
  int control_points = 0;
  int first = 0;
  double smallest_gap_mm = 0.0;
  std::string shielded_by;
};

/// Opens leaf pair `l` of `cp` to `gap_mm` where a jaw shields it; returns what shields it, or
/// "" when nothing does (the pair is left as planned).
std::string open_shielded(ControlPoint& cp, std::size_t l, const std::vector<double>& rows,
                          double gap_mm) {
  double& a = cp.leaf_a_mm[l];
  double& b = cp.leaf_b_mm[l];
  const bool row_outside_y =
      l + 1 < rows.size() &&
      (rows[l + 1] <= cp.jaw_y1_mm + kJawToleranceMm || rows[l] >= cp.jaw_y2_mm - kJawToleranceMm);
  if (row_outside_y) {
    const double centre = 0.5 * (a + b);
    b = centre - 0.5 * gap_mm;
    a = centre + 0.5 * gap_mm;
    return "jaws Y";
  }
  if (a <= cp.jaw_x1_mm + kJawToleranceMm) {  // closed at or behind the X1 jaw
    b = a - gap_mm;
    return "jaw X1";
  }
  if (b >= cp.jaw_x2_mm - kJawToleranceMm) {  // closed at or behind the X2 jaw
    a = b + gap_mm;
    return "jaw X2";
  }
  return "";
}

}  // namespace

Plan as_delivered(const Plan& plan, const MachineProfile& profile,
                  std::vector<Adjustment>* adjustments) {
  Plan out = plan;
  const double gap_mm = profile.mlc.min_dynamic_gap_mm;
  const std::vector<double>& rows = profile.mlc.leaf_boundaries_mm;
  for (Beam& beam : out.beams) {
    std::map<int, PairOpened> opened;
    for (std::size_t i = 0; i < beam.control_points.size(); ++i) {
      ControlPoint& cp = beam.control_points[i];
      const std::size_t pairs = std::min(cp.leaf_a_mm.size(), cp.leaf_b_mm.size());
      for (std::size_t l = 0; l < pairs; ++l) {
        const double planned = cp.leaf_a_mm[l] - cp.leaf_b_mm[l];
        // Open pairs need nothing; crossed leaves (a negative gap) are a broken plan, refused.
        if (planned >= gap_mm - 1e-9 || planned < -1e-9) continue;
        const std::string by = open_shielded(cp, l, rows, gap_mm);
        if (by.empty()) continue;
        auto [it, first] = opened.try_emplace(static_cast<int>(l) + 1);
        PairOpened& o = it->second;
        if (first) {
          o.first = static_cast<int>(i);
          o.smallest_gap_mm = planned;
          o.shielded_by = by;
        }
        ++o.control_points;
        o.smallest_gap_mm = std::min(o.smallest_gap_mm, planned);
        if (o.shielded_by != by && o.shielded_by.find(by) == std::string::npos) {
          o.shielded_by += ", " + by;
        }
      }
    }
    if (adjustments == nullptr) continue;
    for (const auto& [pair, o] : opened) {
      adjustments->push_back(
          {beam.name, pair, o.control_points, o.first, o.smallest_gap_mm, gap_mm, o.shielded_by,
           "beam '" + beam.name + "' leaf pair " + std::to_string(pair) + ": planned closed (gap " +
               format_measured(o.smallest_gap_mm) + " mm) at " + std::to_string(o.control_points) +
               " control point" + (o.control_points == 1 ? "" : "s") + " from " +
               std::to_string(o.first) + "; opened to the minimum " + format_number(gap_mm) +
               " mm under " + o.shielded_by});
    }
  }
  return out;
}

std::vector<std::string> summarise(const std::vector<Adjustment>& adjustments) {
  std::vector<std::string> lines;
  std::size_t i = 0;
  while (i < adjustments.size()) {
    const std::string& beam = adjustments[i].beam;
    std::size_t end = i;
    while (end < adjustments.size() && adjustments[end].beam == beam) ++end;
    // Runs of consecutive pairs shielded the same way, grouped by what shields them.
    std::vector<std::pair<std::string, std::string>> groups;  // shielded_by, "1-18, 45-60"
    for (std::size_t k = i; k < end;) {
      std::size_t run = k + 1;
      while (run < end && adjustments[run].leaf_pair == adjustments[run - 1].leaf_pair + 1 &&
             adjustments[run].shielded_by == adjustments[k].shielded_by) {
        ++run;
      }
      std::string range = std::to_string(adjustments[k].leaf_pair);
      if (run - k > 1) range += "-" + std::to_string(adjustments[run - 1].leaf_pair);
      auto g = std::find_if(groups.begin(), groups.end(),
                            [&](const auto& e) { return e.first == adjustments[k].shielded_by; });
      if (g == groups.end()) {
        groups.emplace_back(adjustments[k].shielded_by, range);
      } else {
        g->second += ", " + range;
      }
      k = run;
    }
    std::string line = "beam '" + beam + "': " + std::to_string(end - i) + " closed leaf pair" +
                       (end - i == 1 ? "" : "s") + " opened to " +
                       format_number(adjustments[i].opened_gap_mm) + " mm:";
    for (std::size_t g = 0; g < groups.size(); ++g) {
      line += (g == 0 ? " " : "; ") + groups[g].second + " under " + groups[g].first;
    }
    lines.push_back(line);
    i = end;
  }
  return lines;
}

}  // namespace linac::delivery
