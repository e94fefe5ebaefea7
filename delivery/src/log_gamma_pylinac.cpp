// The fluence gamma of pylinac 2.2's log analyser (GammaFluence.calc_map), so that a physicist
// reproduces the number pylinac gives for the same log. Its definition, written out here from
// its documented behaviour and checked against its figures for real Clinac Dynalogs
// (tests/data/varian-logs/README.md):
//  * fluence: one row per leaf pair (not to scale across the leaves), `resolution_mm` along the
//    leaf travel over 400 mm; pairs wholly under the Y jaws (their widest opening over the log)
//    stay empty; each beam-on, hold-free snapshot adds its MU increment (Dynalog: dose index,
//    or for VMAT Dynalogs, which record the gantry there, the cumulative gantry travel scaled to
//    25,000) from the B leaf (or X1 jaw) to the A leaf (or X2 jaw), positions rounded half to
//    even to the pixel; a pair whose leaves did not move (standard deviation <= 0.1 mm) gets the
//    total MU between its first positions and the jaws' widest opening;
//  * gamma (Bakai et al. 2003, eq. 6): both maps shifted to a minimum of 0 and scaled to a
//    maximum of 1; reference (actual) pixels below `threshold` are not evaluated, nor pixels
//    beside them (the Sobel gradient of a 3 x 3 neighbourhood, edges reflected);
//    gamma = |expected - actual| / sqrt(dose^2 + (distance in pixels)^2 |Sobel gradient|^2).
#include <algorithm>
#include <cmath>

#include "linac/core/text.hpp"
#include "linac/delivery/log_qa.hpp"

namespace linac::delivery {

namespace {

constexpr double kFieldMm = 400.0;
constexpr double kDoseIndexFull = 25000.0;

/// Rounded half to even, as numpy's round.
double round_even(double v) {
  return std::nearbyint(v);
}

/// pylinac's test of a leaf pair (1-based) wholly under a Y jaw: Millennium 120 leaf widths
/// (10 mm outer, 5 mm inner) stacked from 0 mm, the jaws around 200 mm.
bool pair_under_y_jaws(int pair, double y1_open_mm, double y2_open_mm) {
  auto thickness = [](int leaf) {
    if (leaf <= 10 || leaf >= 110) return 10.0;
    if (leaf <= 50 || leaf >= 70) return 5.0;
    return 10.0;
  };
  double top = 0.0;
  for (int l = 1; l <= pair; ++l) top += thickness(l);
  const double y2 = y2_open_mm + 200.0;
  const double y1 = 200.0 - y1_open_mm;
  return top < y1 || top - thickness(pair) > y2;
}

double population_sd(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double mean = 0.0;
  for (const double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double s = 0.0;
  for (const double x : v) s += (x - mean) * (x - mean);
  return std::sqrt(s / static_cast<double>(v.size()));
}

/// Cumulative MU per snapshot as pylinac reads it (actual or expected).
std::vector<double> cumulative_mu(const MachineLog& log, bool actual) {
  std::vector<double> mu;
  mu.reserve(log.snapshots.size());
  if (log.format == "trajectory") {
    for (const auto& s : log.snapshots) mu.push_back(actual ? s.mu_actual : s.mu_expected);
    return mu;
  }
  for (const auto& s : log.snapshots) mu.push_back(s.dose_fraction * kDoseIndexFull);
  if (!mu.empty() && mu.back() != kDoseIndexFull) {
    // A VMAT Dynalog records the gantry in the dose column: the gantry travel stands for MU.
    double total = 0.0;
    for (std::size_t i = 1; i < mu.size(); ++i) total += std::abs(mu[i] - mu[i - 1]);
    std::vector<double> travel{0.0};
    double sum = 0.0;
    for (std::size_t i = 1; i < mu.size(); ++i) {
      sum += std::abs(mu[i] - mu[i - 1]);
      travel.push_back(total > 0.0 ? sum / total * kDoseIndexFull : 0.0);
    }
    mu = std::move(travel);
  }
  return mu;
}

}  // namespace

std::string PylinacGammaCriteria::label() const {
  return format_number(dose_pct) + "%/" + format_number(distance_mm) + "mm, pylinac";
}

FluenceMap pylinac_fluence(const MachineLog& log, bool actual, double resolution_mm) {
  FluenceMap f;
  f.pixel_mm = resolution_mm;
  f.origin_mm = -0.5 * kFieldMm;
  f.rows = log.leaf_pairs;
  f.cols = static_cast<int>(kFieldMm / resolution_mm);
  f.mu.assign(static_cast<std::size_t>(f.rows) * static_cast<std::size_t>(f.cols), 0.0F);
  const auto& snaps = log.snapshots;
  std::vector<std::size_t> on;
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    if (snaps[i].delivering()) on.push_back(i);
  }
  const std::vector<double> mu = cumulative_mu(log, actual);
  if (on.empty() || mu.empty() || *std::max_element(mu.begin(), mu.end()) < 0.5) return f;
  const double total = mu.back();
  std::vector<double> increment(mu.size());
  increment[0] = mu[0];
  for (std::size_t i = 1; i < mu.size(); ++i) increment[i] = mu[i] - mu[i - 1];
  // The jaws (actual, every snapshot): widest Y opening, X edges per snapshot.
  double y1_open = -1e9;
  double y2_open = -1e9;
  std::vector<double> left_jaw(snaps.size());
  std::vector<double> right_jaw(snaps.size());
  const double offset = std::round(0.5 * kFieldMm / resolution_mm);
  for (std::size_t i = 0; i < snaps.size(); ++i) {
    const auto& j = snaps[i].jaw_actual_mm;  // X1, X2, Y1, Y2 coordinates
    y1_open = std::max(y1_open, -j[2]);
    y2_open = std::max(y2_open, j[3]);
    left_jaw[i] = round_even(0.5 * kFieldMm / resolution_mm + j[0] / resolution_mm);
    right_jaw[i] = round_even(j[1] / resolution_mm + 0.5 * kFieldMm / resolution_mm);
  }
  std::vector<double> line(static_cast<std::size_t>(f.cols));
  std::vector<double> a_on;
  std::vector<double> b_on;
  for (int pair = 1; pair <= log.leaf_pairs; ++pair) {
    if (pair_under_y_jaws(pair, y1_open, y2_open)) continue;
    const auto l = static_cast<std::size_t>(pair - 1);
    auto a_of = [&](std::size_t s) {
      return actual ? snaps[s].leaf_a_actual_mm[l] : snaps[s].leaf_a_expected_mm[l];
    };
    auto b_of = [&](std::size_t s) {
      return actual ? snaps[s].leaf_b_actual_mm[l] : snaps[s].leaf_b_expected_mm[l];
    };
    auto right = [&](std::size_t s) { return round_even(a_of(s) / resolution_mm) + offset; };
    auto left = [&](std::size_t s) { return -round_even(-b_of(s) / resolution_mm) + offset; };
    a_on.clear();
    b_on.clear();
    for (const std::size_t s : on) {
      a_on.push_back(snaps[s].leaf_a_actual_mm[l]);
      b_on.push_back(snaps[s].leaf_b_actual_mm[l]);
    }
    std::fill(line.begin(), line.end(), 0.0);
    auto span = [&](double lo, double hi, auto&& apply) {
      const int i0 = std::max(0, static_cast<int>(lo));
      const int i1 = std::min(f.cols, static_cast<int>(hi));
      for (int i = i0; i < i1; ++i) apply(line[static_cast<std::size_t>(i)]);
    };
    if (population_sd(a_on) > 0.1 || population_sd(b_on) > 0.1) {
      // Each snapshot's increment over its open span, as a difference array (one pass per
      // snapshot instead of one per pixel it covers), summed once along the row.
      std::vector<double>& diff = line;
      for (const std::size_t s : on) {
        const int i0 = std::max(0, static_cast<int>(std::max(left(s), left_jaw[s])));
        const int i1 = std::min(f.cols, static_cast<int>(std::min(right(s), right_jaw[s])));
        if (i1 <= i0) continue;
        diff[static_cast<std::size_t>(i0)] += increment[s];
        if (i1 < f.cols) diff[static_cast<std::size_t>(i1)] -= increment[s];
      }
      double sum = 0.0;
      for (double& v : line) {
        sum += v;
        v = sum;
      }
    } else {
      const std::size_t s = on.front();
      span(std::max(left(s), *std::min_element(left_jaw.begin(), left_jaw.end())),
           std::min(right(s), *std::max_element(right_jaw.begin(), right_jaw.end())),
           [total](double& v) { v = total; });
    }
    // A Dynalog's dose index (0..25,000) becomes the dose fraction.
    const double scale = total == kDoseIndexFull ? 1.0 / kDoseIndexFull : 1.0;
    for (int c = 0; c < f.cols; ++c) {
      f.mu[l * static_cast<std::size_t>(f.cols) + static_cast<std::size_t>(c)] =
          static_cast<float>(line[static_cast<std::size_t>(c)] * scale);
    }
  }
  return f;
}

GammaResult pylinac_gamma(const MachineLog& log, const PylinacGammaCriteria& criteria) {
  GammaResult out;
  out.criteria = criteria.label();
  const FluenceMap act = pylinac_fluence(log, true, criteria.resolution_mm);
  const FluenceMap exp = pylinac_fluence(log, false, criteria.resolution_mm);
  const int rows = act.rows;
  const int cols = act.cols;
  if (rows == 0 || cols == 0) return out;
  auto normalised = [](const FluenceMap& m) {
    std::vector<double> v(m.mu.begin(), m.mu.end());
    const double lo = *std::min_element(v.begin(), v.end());
    for (double& x : v) x -= lo;
    const double hi = *std::max_element(v.begin(), v.end());
    for (double& x : v) x = hi > 0.0 ? x / hi : std::nan("");
    return v;
  };
  std::vector<double> ref = normalised(act);
  const std::vector<double> cmp = normalised(exp);
  const double peak = *std::max_element(ref.begin(), ref.end());
  if (!(peak > 0.0)) return out;  // no fluence: nothing to evaluate
  for (double& x : ref) {
    if (x < criteria.threshold * peak) x = std::nan("");
  }
  auto at = [&](int r, int c) {  // scipy.ndimage's "reflect" edges
    r = r < 0 ? -r - 1 : (r >= rows ? 2 * rows - r - 1 : r);
    c = c < 0 ? -c - 1 : (c >= cols ? 2 * cols - c - 1 : c);
    return ref[static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) +
               static_cast<std::size_t>(c)];
  };
  const double dose = criteria.dose_pct / 100.0;
  const double dist_px = criteria.distance_mm / criteria.resolution_mm;
  double sum = 0.0;
  int passed = 0;
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const double v = at(r, c);
      if (std::isnan(v)) continue;
      double gx = 0.0;
      double gy = 0.0;
      bool complete = true;
      for (int dr = -1; dr <= 1 && complete; ++dr) {
        for (int dc = -1; dc <= 1; ++dc) {
          if (std::isnan(at(r + dr, c + dc))) {
            complete = false;
            break;
          }
        }
      }
      if (!complete) continue;
      for (int k = -1; k <= 1; ++k) {
        const double w = k == 0 ? 2.0 : 1.0;
        gx += w * (at(r + k, c + 1) - at(r + k, c - 1));
        gy += w * (at(r + 1, c + k) - at(r - 1, c + k));
      }
      const double grad = std::hypot(gx, gy);
      const double g = std::abs(cmp[static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) +
                                    static_cast<std::size_t>(c)] -
                                v) /
                       std::sqrt(dose * dose + dist_px * dist_px * grad * grad);
      if (std::isnan(g)) continue;  // no expected fluence to compare with
      sum += g;
      ++out.evaluated;
      if (g < 1.0) ++passed;
    }
  }
  if (out.evaluated > 0) {
    out.pass_pct = 100.0 * passed / out.evaluated;
    out.mean_gamma = sum / out.evaluated;
  }
  return out;
}

}  // namespace linac::delivery
