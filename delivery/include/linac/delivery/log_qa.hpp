#pragma once
// Delivery QA from machine logs: leaf errors (per-leaf RMS over beam-on snapshots, mean, max,
// 95th percentile of the absolute error, largest error), beam holds, beam-on time, MU, gantry
// range; actual and expected fluence maps on a 1 mm grid, and a global 2D gamma comparison of
// the actual fluence against the expected one (TG-218 defaults: 3 %/2 mm, 10 % threshold).
#include <string>
#include <vector>

#include "linac/delivery/machine_log.hpp"

namespace linac::delivery {

struct GammaCriteria {
  double dose_pct = 3.0;  // of the reference maximum (global)
  double distance_mm = 2.0;
  double threshold_pct = 10.0;  // reference pixels below this % of the maximum are not evaluated
  [[nodiscard]] std::string label() const;  // "3%/2mm"
};

/// Fluence on a grid of pixel_mm squares centred on the beam axis, rows along the leaf
/// travel's normal (IEC Y of the beam-limiting device, -200 mm first), columns along X.
struct FluenceMap {
  int rows = 0;
  int cols = 0;
  double pixel_mm = 1.0;
  double origin_mm = -200.0;  // coordinate of the first pixel's edge, both axes
  std::vector<float> mu;      // row-major

  [[nodiscard]] float at(int r, int c) const {
    return mu[static_cast<std::size_t>(r) * static_cast<std::size_t>(cols) +
              static_cast<std::size_t>(c)];
  }
  [[nodiscard]] double max() const;
};

struct GammaResult {
  std::string criteria;
  double pass_pct = 0.0;
  double mean_gamma = 0.0;
  int evaluated = 0;
  std::vector<float> gamma;  // same grid as the fluence; -1 where not evaluated
};

struct LogAnalysis {
  std::string file;
  std::string format;
  std::string beam_name;
  int snapshots = 0;
  int beam_on_snapshots = 0;
  double mu = 0.0;  // delivered over the log (0 for a Dynalog without the beam's MU)
  double dose_fraction = 0.0;
  double gantry_from_deg = 0.0;
  double gantry_to_deg = 0.0;
  double rms_mean_mm = 0.0;
  double rms_max_mm = 0.0;
  double p95_mm = 0.0;
  double max_error_mm = 0.0;
  int worst_leaf = -1;  // 0..pairs-1 bank A, pairs.. bank B
  std::vector<double> rms_per_leaf_mm;
  int beam_holds = 0;
  double beam_on_s = 0.0;
  FluenceMap actual;
  FluenceMap expected;
  GammaResult gamma;
  GammaResult gamma_pylinac;  // the same criteria in pylinac's convention (PylinacGammaCriteria)
};

/// Fluence of the log's beam-on snapshots (actual or expected positions). `leaf_boundaries_mm`
/// has leaf_pairs + 1 entries (the MLC model's); each snapshot adds the MU it delivered over
/// the open area between the leaves of every pair, clipped by the jaws.
FluenceMap log_fluence(const MachineLog& log, const std::vector<double>& leaf_boundaries_mm,
                       bool actual, double pixel_mm = 1.0);

/// Global gamma of `evaluated` against `reference` (same grid).
GammaResult gamma_2d(const FluenceMap& reference, const FluenceMap& evaluated,
                     const GammaCriteria& criteria);

/// pylinac 2.2's fluence gamma convention (its log analyser's GammaFluence.calc_map), beside the
/// product's own: one row per leaf pair, `resolution_mm` along the leaf travel, both fluences
/// normalised to their maximum, Bakai's gradient approximation of gamma (log_gamma_pylinac.cpp
/// gives the whole definition). A physicist reproduces pylinac's number with it.
struct PylinacGammaCriteria {
  double dose_pct = 1.0;
  double distance_mm = 1.0;
  double threshold = 0.1;  // fraction of the actual fluence's maximum
  double resolution_mm = 0.1;
  [[nodiscard]] std::string label() const;  // "1%/1mm, pylinac"
};

/// pylinac's fluence of the log: `rows` = leaf pairs (pixels a leaf pair high), `cols` over
/// 400 mm at `resolution_mm` from `origin_mm` = -200 along the leaf travel.
FluenceMap pylinac_fluence(const MachineLog& log, bool actual, double resolution_mm = 0.1);

/// pylinac's gamma of the actual fluence against the expected one (`gamma` left empty).
GammaResult pylinac_gamma(const MachineLog& log, const PylinacGammaCriteria& criteria = {});

/// A site's pass/fail limits for one log. Defaults: AAPM TG-142's ±1 mm leaf position for IMRT
/// (on the 95th percentile of the beam-on errors) and TG-218's 95 % gamma pass rate (tolerance
/// limit) at the gamma criteria in use; the leaf RMS limit is off unless the site sets one.
struct QaTolerances {
  double p95_mm = 1.0;
  double gamma_pass_pct = 95.0;
  double rms_max_mm = 0.0;  // 0: not checked
};

/// Why a log's analysis is out of `tolerances`, one line each (empty: it passes).
std::vector<std::string> tolerance_failures(const LogAnalysis& analysis,
                                            const QaTolerances& tolerances);

LogAnalysis analyse_log(const MachineLog& log, const std::vector<double>& leaf_boundaries_mm,
                        const GammaCriteria& criteria = {}, double pixel_mm = 1.0);

}  // namespace linac::delivery
