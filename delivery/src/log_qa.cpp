#include "linac/delivery/log_qa.hpp"

#include <algorithm>
#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::delivery {

std::string GammaCriteria::label() const {
  return format_number(dose_pct) + "%/" + format_number(distance_mm) + "mm";
}

double FluenceMap::max() const {
  return mu.empty() ? 0.0 : static_cast<double>(*std::max_element(mu.begin(), mu.end()));
}

namespace {

// Delivered amount of a snapshot's interval: MU when the log has them, else the dose fraction.
double amount(const LogSnapshot& s, bool has_mu) {
  return has_mu ? s.mu_actual : s.dose_fraction;
}

double overlap(double a0, double a1, double b0, double b1) {
  return std::max(0.0, std::min(a1, b1) - std::max(a0, b0));
}

}  // namespace

FluenceMap log_fluence(const MachineLog& log, const std::vector<double>& bounds, bool actual,
                       double pixel_mm) {
  FluenceMap f;
  f.pixel_mm = pixel_mm;
  f.origin_mm = -200.0;
  f.rows = static_cast<int>(std::lround(400.0 / pixel_mm));
  f.cols = f.rows;
  f.mu.assign(static_cast<std::size_t>(f.rows) * static_cast<std::size_t>(f.cols), 0.0F);
  const auto pairs = static_cast<std::size_t>(log.leaf_pairs);
  if (bounds.size() != pairs + 1) {
    throw InputError("leaf boundaries", std::to_string(bounds.size()) + " boundaries for " +
                                            std::to_string(pairs) + " leaf pairs");
  }
  const bool has_mu = log.format == "trajectory";
  const auto& snaps = log.snapshots;
  const std::size_t stride = static_cast<std::size_t>(f.cols) + 1;
  std::vector<double> diff(static_cast<std::size_t>(f.rows) * stride, 0.0);
  for (std::size_t i = 1; i < snaps.size(); ++i) {
    const LogSnapshot& s = snaps[i];
    const LogSnapshot& p = snaps[i - 1];
    if (!s.delivering()) continue;
    const double dmu = amount(s, has_mu) - amount(p, has_mu);
    if (dmu <= 0.0) continue;
    // Positions over the interval: the mean of its two ends while the beam was on at both; when
    // it starts from a held or beam-off snapshot (a step-and-shoot move, a beam hold), the MU
    // came after the axes arrived, at the interval's end.
    const double w_prev = p.delivering() ? 0.5 : 0.0;
    auto mid = [&](const std::vector<double>& a, const std::vector<double>& b, std::size_t l) {
      return (1.0 - w_prev) * a[l] + w_prev * b[l];
    };
    const auto& ja = actual ? s.jaw_actual_mm : s.jaw_expected_mm;
    const auto& jb = actual ? p.jaw_actual_mm : p.jaw_expected_mm;
    const double x1 = (1.0 - w_prev) * ja[0] + w_prev * jb[0];
    const double x2 = (1.0 - w_prev) * ja[1] + w_prev * jb[1];
    const double y1 = (1.0 - w_prev) * ja[2] + w_prev * jb[2];
    const double y2 = (1.0 - w_prev) * ja[3] + w_prev * jb[3];
    for (std::size_t l = 0; l < pairs; ++l) {
      const double ylo = std::max(bounds[l], y1);
      const double yhi = std::min(bounds[l + 1], y2);
      if (yhi <= ylo) continue;
      const double a = actual ? mid(s.leaf_a_actual_mm, p.leaf_a_actual_mm, l)
                              : mid(s.leaf_a_expected_mm, p.leaf_a_expected_mm, l);
      const double b = actual ? mid(s.leaf_b_actual_mm, p.leaf_b_actual_mm, l)
                              : mid(s.leaf_b_expected_mm, p.leaf_b_expected_mm, l);
      const double xlo = std::max(b, x1);
      const double xhi = std::min(a, x2);
      if (xhi <= xlo) continue;
      const int r0 = std::max(0, static_cast<int>(std::floor((ylo - f.origin_mm) / pixel_mm)));
      const int r1 =
          std::min(f.rows - 1, static_cast<int>(std::floor((yhi - f.origin_mm) / pixel_mm)));
      const int c0 = std::max(0, static_cast<int>(std::floor((xlo - f.origin_mm) / pixel_mm)));
      const int c1 =
          std::min(f.cols - 1, static_cast<int>(std::floor((xhi - f.origin_mm) / pixel_mm)));
      if (c1 < c0 || r1 < r0) continue;  // outside the map
      // Per row, the pixels' coverage along x as a difference array: the two edge pixels by
      // their overlap, the ones between whole (prefix-summed once at the end), so a leaf pair
      // costs its rows, not its rows x open pixels.
      const double wx0 =
          overlap(f.origin_mm + c0 * pixel_mm, f.origin_mm + (c0 + 1) * pixel_mm, xlo, xhi) /
          pixel_mm;
      const double wx1 =
          overlap(f.origin_mm + c1 * pixel_mm, f.origin_mm + (c1 + 1) * pixel_mm, xlo, xhi) /
          pixel_mm;
      for (int r = r0; r <= r1; ++r) {
        const double py0 = f.origin_mm + r * pixel_mm;
        const double wy = overlap(py0, py0 + pixel_mm, ylo, yhi) / pixel_mm;
        if (wy <= 0.0) continue;
        double* row = &diff[static_cast<std::size_t>(r) * stride];
        const double v = dmu * wy;
        row[c0] += v * wx0;
        row[c0 + 1] -= v * wx0;
        if (c1 > c0) {
          row[c1] += v * wx1;
          row[c1 + 1] -= v * wx1;
        }
        if (c1 > c0 + 1) {
          row[c0 + 1] += v;
          row[c1] -= v;
        }
      }
    }
  }
  for (int r = 0; r < f.rows; ++r) {
    const double* row = &diff[static_cast<std::size_t>(r) * stride];
    float* out = &f.mu[static_cast<std::size_t>(r) * static_cast<std::size_t>(f.cols)];
    double sum = 0.0;
    for (int c = 0; c < f.cols; ++c) {
      sum += row[c];
      out[c] = static_cast<float>(sum);
    }
  }
  return f;
}

GammaResult gamma_2d(const FluenceMap& ref, const FluenceMap& eval, const GammaCriteria& c) {
  GammaResult g;
  g.criteria = c.label();
  if (ref.rows != eval.rows || ref.cols != eval.cols) {
    throw InputError("gamma", "the fluence maps are on different grids");
  }
  g.gamma.assign(ref.mu.size(), -1.0F);
  const double max_ref = ref.max();
  if (max_ref <= 0.0) return g;
  const double dd = c.dose_pct / 100.0 * max_ref;
  const double threshold = c.threshold_pct / 100.0 * max_ref;
  // Search the evaluated map within 3 distance criteria, on a lattice of a quarter of the
  // distance criterion (at most half a pixel), interpolated bilinearly, and along the lattice's
  // lines in closed form (below): at a 1 mm criterion a half-pixel lattice alone overshoots a
  // sharp edge (a picket) and fails it.
  const double step = std::min(ref.pixel_mm / 2.0, c.distance_mm / 4.0);
  const double step_px = step / ref.pixel_mm;
  const int reach = static_cast<int>(std::ceil(3.0 * c.distance_mm / step));
  auto sample = [&](double r, double col) {
    r = std::clamp(r, 0.0, ref.rows - 1.0);
    col = std::clamp(col, 0.0, ref.cols - 1.0);
    const int r0 = static_cast<int>(r), c0 = static_cast<int>(col);
    const int r1 = std::min(r0 + 1, ref.rows - 1), c1 = std::min(c0 + 1, ref.cols - 1);
    const double fr = r - r0, fc = col - c0;
    const auto v00 = static_cast<double>(eval.at(r0, c0));
    const auto v01 = static_cast<double>(eval.at(r0, c1));
    const auto v10 = static_cast<double>(eval.at(r1, c0));
    const auto v11 = static_cast<double>(eval.at(r1, c1));
    return (1 - fr) * ((1 - fc) * v00 + fc * v01) + fr * ((1 - fc) * v10 + fc * v11);
  };
  // Sums per row, added in row order after the loop: the same mean every run and for any
  // number of threads (a reduction adds the threads' sums in the order they finish).
  std::vector<double> row_sum(static_cast<std::size_t>(std::max(0, ref.rows)), 0.0);
  std::vector<int> row_passed(row_sum.size(), 0);
  std::vector<int> row_evaluated(row_sum.size(), 0);
#pragma omp parallel for schedule(dynamic, 8)
  for (int r = 0; r < ref.rows; ++r) {
    double& sum = row_sum[static_cast<std::size_t>(r)];
    int& passed = row_passed[static_cast<std::size_t>(r)];
    int& evaluated = row_evaluated[static_cast<std::size_t>(r)];
    for (int col = 0; col < ref.cols; ++col) {
      const double rv = static_cast<double>(ref.at(r, col));
      if (rv < threshold) continue;
      // Start from the same point: where the maps agree, the search below prunes itself.
      const double e0 = static_cast<double>(eval.at(r, col));
      double best2 = (e0 - rv) * (e0 - rv) / (dd * dd);
      for (int i = -reach; i <= reach; ++i) {
        const double dy = i * step;
        const double dist2 = dy * dy / (c.distance_mm * c.distance_mm);
        if (dist2 >= best2) continue;
        for (int j = -reach; j <= reach; ++j) {
          const double dx = j * step;
          const double d2 = dist2 + dx * dx / (c.distance_mm * c.distance_mm);
          if (d2 >= best2) continue;
          const double ev = sample(r + i * step_px, col + j * step_px);
          const double g2 = d2 + (ev - rv) * (ev - rv) / (dd * dd);
          best2 = std::min(best2, g2);
          // Between this lattice point and its neighbours along x and y the map is linear: the
          // closest point of each segment in closed form (a steep edge crossed between two
          // lattice points still finds its agreement).
          const double err0 = ev - rv;
          for (int axis = 0; axis < 2; ++axis) {
            const double ev1 = axis == 0 ? sample(r + i * step_px, col + (j + 1) * step_px)
                                         : sample(r + (i + 1) * step_px, col + j * step_px);
            const double de = ev1 - ev;
            const double along = axis == 0 ? dx : dy;  // coordinate moving along the segment
            const double fixed = axis == 0 ? dy : dx;
            const double inv_d2 = 1.0 / (c.distance_mm * c.distance_mm);
            const double inv_dd2 = 1.0 / (dd * dd);
            const double den = step * step * inv_d2 + de * de * inv_dd2;
            const double t =
                std::clamp(-(step * along * inv_d2 + de * err0 * inv_dd2) / den, 0.0, 1.0);
            const double u = along + t * step;
            const double e = err0 + t * de;
            best2 = std::min(best2, (fixed * fixed + u * u) * inv_d2 + e * e * inv_dd2);
          }
        }
      }
      const double gv = std::sqrt(best2);
      g.gamma[static_cast<std::size_t>(r) * static_cast<std::size_t>(ref.cols) +
              static_cast<std::size_t>(col)] = static_cast<float>(gv);
      sum += gv;
      passed += gv <= 1.0 ? 1 : 0;
      evaluated += 1;
    }
  }
  double sum = 0.0;
  int passed = 0;
  int evaluated = 0;
  for (std::size_t r = 0; r < row_sum.size(); ++r) {
    sum += row_sum[r];
    passed += row_passed[r];
    evaluated += row_evaluated[r];
  }
  g.evaluated = evaluated;
  if (g.evaluated > 0) {
    g.pass_pct = 100.0 * passed / g.evaluated;
    g.mean_gamma = sum / g.evaluated;
  }
  return g;
}

LogAnalysis analyse_log(const MachineLog& log, const std::vector<double>& bounds,
                        const GammaCriteria& criteria, double pixel_mm) {
  LogAnalysis a;
  a.file = log.files.empty() ? "" : log.files.front().string();
  a.format = log.format;
  a.beam_name = log.beam_name;
  a.snapshots = static_cast<int>(log.snapshots.size());
  const auto pairs = static_cast<std::size_t>(log.leaf_pairs);
  std::vector<double> sum2(2 * pairs, 0.0);
  std::vector<double> abs_errors;
  int first_on = -1;
  int last_on = -1;
  for (std::size_t i = 0; i < log.snapshots.size(); ++i) {
    const LogSnapshot& s = log.snapshots[i];
    if (i > 0 && log.snapshots[i - 1].beam_hold == 0 && s.beam_hold != 0 &&
        log.snapshots[i - 1].beam_on) {
      ++a.beam_holds;
    }
    if (!s.delivering()) continue;
    ++a.beam_on_snapshots;
    if (first_on < 0) first_on = static_cast<int>(i);
    last_on = static_cast<int>(i);
    for (std::size_t l = 0; l < pairs; ++l) {
      const double ea = s.leaf_a_actual_mm[l] - s.leaf_a_expected_mm[l];
      const double eb = s.leaf_b_actual_mm[l] - s.leaf_b_expected_mm[l];
      sum2[l] += ea * ea;
      sum2[pairs + l] += eb * eb;
      abs_errors.push_back(std::abs(ea));
      abs_errors.push_back(std::abs(eb));
      for (const auto& [e, leaf] : {std::pair{ea, l}, std::pair{eb, pairs + l}}) {
        if (std::abs(e) > a.max_error_mm) {
          a.max_error_mm = std::abs(e);
          a.worst_leaf = static_cast<int>(leaf);
        }
      }
    }
  }
  a.beam_on_s = a.beam_on_snapshots * log.sample_period_s;
  a.rms_per_leaf_mm.resize(2 * pairs);
  if (a.beam_on_snapshots > 0) {
    for (std::size_t k = 0; k < 2 * pairs; ++k) {
      a.rms_per_leaf_mm[k] = std::sqrt(sum2[k] / a.beam_on_snapshots);
    }
    a.rms_mean_mm = 0.0;
    for (double v : a.rms_per_leaf_mm) a.rms_mean_mm += v;
    a.rms_mean_mm /= static_cast<double>(a.rms_per_leaf_mm.size());
    a.rms_max_mm = *std::max_element(a.rms_per_leaf_mm.begin(), a.rms_per_leaf_mm.end());
    const auto k = static_cast<std::size_t>(0.95 * static_cast<double>(abs_errors.size() - 1));
    std::nth_element(abs_errors.begin(), abs_errors.begin() + static_cast<std::ptrdiff_t>(k),
                     abs_errors.end());
    a.p95_mm = abs_errors[k];
    a.gantry_from_deg = log.snapshots[static_cast<std::size_t>(first_on)].gantry_actual_deg;
    a.gantry_to_deg = log.snapshots[static_cast<std::size_t>(last_on)].gantry_actual_deg;
  }
  if (!log.snapshots.empty()) {
    const auto& f = log.snapshots.front();
    const auto& l = log.snapshots.back();
    a.dose_fraction = l.dose_fraction - f.dose_fraction;
    if (log.format == "trajectory") {
      a.mu = l.mu_actual - f.mu_actual;
    } else if (log.beam_mu > 0.0) {
      a.mu = a.dose_fraction * log.beam_mu;
    }
  }
  a.actual = log_fluence(log, bounds, true, pixel_mm);
  a.expected = log_fluence(log, bounds, false, pixel_mm);
  a.gamma = gamma_2d(a.expected, a.actual, criteria);
  a.gamma_pylinac = pylinac_gamma(
      log, {criteria.dose_pct, criteria.distance_mm, criteria.threshold_pct / 100.0, 0.1});
  return a;
}

std::vector<std::string> tolerance_failures(const LogAnalysis& analysis,
                                            const QaTolerances& tolerances) {
  std::vector<std::string> failures;
  if (analysis.p95_mm > tolerances.p95_mm) {
    failures.push_back("95th percentile leaf error " + format_measured(analysis.p95_mm) + " mm > " +
                       format_number(tolerances.p95_mm) + " mm");
  }
  if (analysis.gamma.pass_pct < tolerances.gamma_pass_pct) {
    failures.push_back("gamma " + analysis.gamma.criteria + " pass " +
                       format_measured(analysis.gamma.pass_pct) + " % < " +
                       format_number(tolerances.gamma_pass_pct) + " %");
  }
  if (tolerances.rms_max_mm > 0.0 && analysis.rms_max_mm > tolerances.rms_max_mm) {
    failures.push_back("largest leaf RMS " + format_measured(analysis.rms_max_mm) + " mm > " +
                       format_number(tolerances.rms_max_mm) + " mm");
  }
  return failures;
}

}  // namespace linac::delivery
