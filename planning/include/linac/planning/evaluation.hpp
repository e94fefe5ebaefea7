#pragma once
// Plan evaluation: cumulative DVHs, dose-volume figures (D98, D95, D50, D2, mean, max, V5, V10,
// V20), conformity and homogeneity, EQD2 and BED (linear-quadratic, alpha/beta per structure),
// and the whole-liver tolerance converted to the plan's fractionation.
#include <map>
#include <string>
#include <vector>

#include "linac/core/volume.hpp"

namespace linac::planning {

struct Dvh {
  std::string name;
  double volume_cm3 = 0.0;
  double bin_gy = 0.1;
  std::vector<double> volume_pct;  // % of the structure receiving >= bin index x bin_gy
};

/// Cumulative DVH of `mask` (same grid as `dose`, Gy) in bins of `bin_gy`.
Dvh cumulative_dvh(const Volume<float>& dose_gy, const Mask& mask, const std::string& name,
                   double bin_gy = 0.1);

struct DoseFigures {
  std::string name;
  double volume_cm3 = 0.0;
  double d98_gy = 0.0, d95_gy = 0.0, d50_gy = 0.0, d2_gy = 0.0;
  double mean_gy = 0.0, max_gy = 0.0, min_gy = 0.0;
  double v5_pct = 0.0, v10_pct = 0.0, v15_pct = 0.0, v20_pct = 0.0;  // % of volume >= x Gy
  double alpha_beta_gy = 3.0;
  double mean_eqd2_gy = 0.0;  // voxel by voxel, then averaged
  double mean_bed_gy = 0.0;
};

/// Dx: the least dose of the hottest x % of the structure (x in (0, 100)).
double dose_at_volume_pct(std::vector<float> doses_gy, double pct);

DoseFigures dose_figures(const Volume<float>& dose_gy, const Mask& mask, const std::string& name,
                         unsigned fractions, double alpha_beta_gy);

/// BED and EQD2 of a total dose D in n equal fractions.
double bed_gy(double total_gy, unsigned fractions, double alpha_beta_gy);
double eqd2_gy(double total_gy, unsigned fractions, double alpha_beta_gy);
/// The total dose in `fractions` with the same BED as `total_gy` in `reference_fractions`.
double iso_effective_dose_gy(double total_gy, unsigned reference_fractions, unsigned fractions,
                             double alpha_beta_gy);

struct ConformityFigures {
  double paddick_ci = 0.0;          // (TV_PIV)^2 / (TV x PIV)
  double rtog_ci = 0.0;             // PIV / TV
  double homogeneity_icru83 = 0.0;  // (D2 - D98) / D50
  double coverage_pct = 0.0;        // of the target receiving the prescription
};
ConformityFigures conformity(const Volume<float>& dose_gy, const Mask& target, const Mask& body,
                             double prescription_gy);

struct ToleranceCheck {
  std::string reference;  // e.g. "30 Gy in 2 Gy fractions"
  double reference_gy = 0.0;
  unsigned reference_fractions = 0;
  double limit_gy = 0.0;  // converted to the plan's fractions
  double value_gy = 0.0;  // the liver's mean dose
  bool within = false;
};
/// Whole-liver mean dose against 30 Gy in 2-Gy fractions and 21 Gy in 3-Gy fractions.
std::vector<ToleranceCheck> liver_tolerance(double liver_mean_gy, unsigned fractions,
                                            double alpha_beta_gy);

/// Default alpha/beta (Gy) by structure name: 10 for targets, 2.5 for liver and FLS, 2 for the
/// spinal cord, 3 otherwise.
double default_alpha_beta(const std::string& name);

}  // namespace linac::planning
