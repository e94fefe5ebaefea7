#include "linac/planning/evaluation.hpp"

#include <algorithm>
#include <cmath>

#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

namespace {

std::vector<float> doses_in(const Volume<float>& dose, const Mask& mask, const std::string& name) {
  if (!dose.grid().same_as(mask.grid())) {
    throw InputError(name, "the mask and the dose are on different grids");
  }
  std::vector<float> v;
  for (std::size_t n = 0; n < mask.size(); ++n) {
    if (mask[n] != 0) v.push_back(dose[n]);
  }
  return v;
}

}  // namespace

Dvh cumulative_dvh(const Volume<float>& dose_gy, const Mask& mask, const std::string& name,
                   double bin_gy) {
  if (!(bin_gy > 0.0)) throw InputError("dvh", "bin must be > 0 Gy");
  const auto d = doses_in(dose_gy, mask, name);
  Dvh h;
  h.name = name;
  h.bin_gy = bin_gy;
  h.volume_cm3 = static_cast<double>(d.size()) * dose_gy.grid().voxel_volume_mm3() / 1000.0;
  if (d.empty()) return h;
  const double max = static_cast<double>(*std::max_element(d.begin(), d.end()));
  const auto bins = static_cast<std::size_t>(std::floor(max / bin_gy)) + 2;
  std::vector<double> count(bins, 0.0);
  for (const float x : d) {
    const auto b =
        static_cast<std::size_t>(std::floor(std::max(0.0, static_cast<double>(x)) / bin_gy));
    count[std::min(b, bins - 1)] += 1.0;
  }
  h.volume_pct.assign(bins, 0.0);
  double above = 0.0;
  for (std::size_t b = bins; b-- > 0;) {
    above += count[b];
    h.volume_pct[b] = 100.0 * above / static_cast<double>(d.size());
  }
  return h;
}

double dose_at_volume_pct(std::vector<float> doses_gy, double pct) {
  if (doses_gy.empty()) return 0.0;
  std::sort(doses_gy.begin(), doses_gy.end(), std::greater<>());
  const double k = std::ceil(pct / 100.0 * static_cast<double>(doses_gy.size()));
  const auto i = static_cast<std::size_t>(std::clamp(k, 1.0, static_cast<double>(doses_gy.size())));
  return static_cast<double>(doses_gy[i - 1]);
}

double bed_gy(double total_gy, unsigned fractions, double alpha_beta_gy) {
  return total_gy * (1.0 + total_gy / (static_cast<double>(fractions) * alpha_beta_gy));
}

double eqd2_gy(double total_gy, unsigned fractions, double alpha_beta_gy) {
  return bed_gy(total_gy, fractions, alpha_beta_gy) / (1.0 + 2.0 / alpha_beta_gy);
}

double iso_effective_dose_gy(double total_gy, unsigned reference_fractions, unsigned fractions,
                             double alpha_beta_gy) {
  const double bed = bed_gy(total_gy, reference_fractions, alpha_beta_gy);
  const double na = static_cast<double>(fractions) * alpha_beta_gy;
  // D (1 + D / (n a/b)) = BED  ->  D = n a/b / 2 (sqrt(1 + 4 BED / (n a/b)) - 1)
  return 0.5 * na * (std::sqrt(1.0 + 4.0 * bed / na) - 1.0);
}

DoseFigures dose_figures(const Volume<float>& dose_gy, const Mask& mask, const std::string& name,
                         unsigned fractions, double alpha_beta_gy) {
  if (fractions == 0 || !(alpha_beta_gy > 0.0)) {
    throw InputError(name, "fractions and alpha/beta must be positive");
  }
  const auto d = doses_in(dose_gy, mask, name);
  DoseFigures f;
  f.name = name;
  f.alpha_beta_gy = alpha_beta_gy;
  f.volume_cm3 = static_cast<double>(d.size()) * dose_gy.grid().voxel_volume_mm3() / 1000.0;
  if (d.empty()) return f;
  f.d98_gy = dose_at_volume_pct(d, 98.0);
  f.d95_gy = dose_at_volume_pct(d, 95.0);
  f.d50_gy = dose_at_volume_pct(d, 50.0);
  f.d2_gy = dose_at_volume_pct(d, 2.0);
  double sum = 0.0, eqd2 = 0.0, bed = 0.0;
  std::size_t v5 = 0, v10 = 0, v15 = 0, v20 = 0;
  f.max_gy = 0.0;
  f.min_gy = 1e30;
  for (const float x : d) {
    const double v = static_cast<double>(x);
    sum += v;
    eqd2 += eqd2_gy(v, fractions, alpha_beta_gy);
    bed += bed_gy(v, fractions, alpha_beta_gy);
    f.max_gy = std::max(f.max_gy, v);
    f.min_gy = std::min(f.min_gy, v);
    v5 += v >= 5.0 ? 1 : 0;
    v10 += v >= 10.0 ? 1 : 0;
    v15 += v >= 15.0 ? 1 : 0;
    v20 += v >= 20.0 ? 1 : 0;
  }
  const double n = static_cast<double>(d.size());
  f.mean_gy = sum / n;
  f.mean_eqd2_gy = eqd2 / n;
  f.mean_bed_gy = bed / n;
  f.v5_pct = 100.0 * static_cast<double>(v5) / n;
  f.v10_pct = 100.0 * static_cast<double>(v10) / n;
  f.v15_pct = 100.0 * static_cast<double>(v15) / n;
  f.v20_pct = 100.0 * static_cast<double>(v20) / n;
  return f;
}

ConformityFigures conformity(const Volume<float>& dose_gy, const Mask& target, const Mask& body,
                             double prescription_gy) {
  ConformityFigures c;
  double tv = 0.0, piv = 0.0, tv_piv = 0.0;
  for (std::size_t n = 0; n < dose_gy.size(); ++n) {
    const bool in_t = target[n] != 0;
    const bool covered = body[n] != 0 && static_cast<double>(dose_gy[n]) >= prescription_gy;
    tv += in_t ? 1.0 : 0.0;
    piv += covered ? 1.0 : 0.0;
    tv_piv += (in_t && covered) ? 1.0 : 0.0;
  }
  if (tv > 0.0 && piv > 0.0) {
    c.paddick_ci = tv_piv * tv_piv / (tv * piv);
    c.rtog_ci = piv / tv;
  }
  c.coverage_pct = tv > 0.0 ? 100.0 * tv_piv / tv : 0.0;
  const auto d = doses_in(dose_gy, target, "target");
  const double d50 = dose_at_volume_pct(d, 50.0);
  if (d50 > 0.0) {
    c.homogeneity_icru83 = (dose_at_volume_pct(d, 2.0) - dose_at_volume_pct(d, 98.0)) / d50;
  }
  return c;
}

std::vector<ToleranceCheck> liver_tolerance(double liver_mean_gy, unsigned fractions,
                                            double alpha_beta_gy) {
  std::vector<ToleranceCheck> out;
  for (const auto& [total, per] : {std::pair{30.0, 2.0}, std::pair{21.0, 3.0}}) {
    ToleranceCheck t;
    t.reference_gy = total;
    t.reference_fractions = static_cast<unsigned>(std::lround(total / per));
    t.reference = format_number(total) + " Gy in " + format_number(per) + " Gy fractions";
    t.limit_gy = iso_effective_dose_gy(total, t.reference_fractions, fractions, alpha_beta_gy);
    t.value_gy = liver_mean_gy;
    t.within = liver_mean_gy <= t.limit_gy;
    out.push_back(t);
  }
  return out;
}

double default_alpha_beta(const std::string& name) {
  if (name == "PTV" || name == "ITV" || name == "GTV" || name == "CTV") return 10.0;
  if (name == "liver" || name == "FLS") return 2.5;
  if (name == "spinal_cord") return 2.0;
  return 3.0;
}

}  // namespace linac::planning
