#include "plan_review_files.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "linac/core/file_util.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/resample.hpp"

namespace linac::cli {
namespace fs = std::filesystem;

namespace {

double r2(double v) {
  return std::round(v * 100.0) / 100.0;
}

}  // namespace

PlotSeries dvh_series(const planning::Dvh& h, const std::string& name,
                      std::array<std::uint8_t, 3> rgb, bool dashed) {
  PlotSeries ps{name, {}, {}, rgb, dashed};
  for (std::size_t b = 0; b < h.volume_pct.size(); ++b) {
    ps.x.push_back(static_cast<double>(b) * h.bin_gy);
    ps.y.push_back(h.volume_pct[b]);
  }
  return ps;
}

void write_dvh_files(const fs::path& dir, const std::vector<planning::Dvh>& curves,
                     const std::vector<planning::Dvh>& base_curves,
                     const std::vector<PlotSeries>& series, double max_dose_gy) {
  std::string csv = "dose_gy";
  for (const auto& h : curves) csv += "," + h.name;
  for (const auto& h : base_curves) csv += "," + h.name + "_baseline";
  csv += "\n";
  std::size_t bins = 0;
  for (const auto& h : curves) bins = std::max(bins, h.volume_pct.size());
  for (const auto& h : base_curves) bins = std::max(bins, h.volume_pct.size());
  for (std::size_t b = 0; b < bins; ++b) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.1f", 0.1 * static_cast<double>(b));
    csv += buf;
    for (const auto* set : {&curves, &base_curves}) {
      for (const auto& h : *set) {
        std::snprintf(buf, sizeof(buf), ",%.3f", b < h.volume_pct.size() ? h.volume_pct[b] : 0.0);
        csv += buf;
      }
    }
    csv += "\n";
  }
  write_file_atomically(dir / "dvh.csv", {csv});
  nlohmann::ordered_json dvh_json = nlohmann::ordered_json::object();
  for (const auto& h : curves) {
    dvh_json[h.name] = {
        {"volume_cm3", r2(h.volume_cm3)}, {"bin_gy", h.bin_gy}, {"volume_pct", h.volume_pct}};
  }
  for (const auto& h : base_curves) {
    dvh_json[h.name]["baseline_volume_pct"] = h.volume_pct;
  }
  write_file_atomically(dir / "dvh.json", {dvh_json.dump()});
  write_plot_png(dir / "dvh.png", series, "dose (Gy)", "volume (%)",
                 std::max(5.0, std::ceil(max_dose_gy / 5.0) * 5.0), 100.0,
                 "DVH: plan (solid), baseline without FLS objective (dashed)");
}

std::vector<fs::path> write_difference_maps(const fs::path& dir, const Case& c,
                                            const Volume<float>& plan_gy,
                                            const Volume<float>& baseline_gy,
                                            const planning::VmatOptions& vo) {
  const Grid& g = c.ct.grid();
  const Volume<float> plan = resample(plan_gy, g, Interpolation::kLinear, 0.0F);
  const Volume<float> base = resample(baseline_gy, g, Interpolation::kLinear, 0.0F);
  Volume<float> diff(g, 0.0F);
  std::vector<float> magnitude;
  magnitude.reserve(diff.size() / 8);
  const Structure* body = c.find("body");
  for (std::size_t n = 0; n < diff.size(); ++n) {
    if (body != nullptr && body->mask[n] == 0) continue;  // the patient only
    diff[n] = plan[n] - base[n];
    if (diff[n] != 0.0F) magnitude.push_back(std::abs(diff[n]));
  }
  // The colour range: the 99th percentile of the differences, at least 0.5 Gy.
  double range = 0.5;
  if (!magnitude.empty()) {
    auto p99 = magnitude.begin() + static_cast<std::ptrdiff_t>(0.99 * (magnitude.size() - 1));
    std::nth_element(magnitude.begin(), p99, magnitude.end());
    range = std::max(range, std::ceil(static_cast<double>(*p99) * 2.0) / 2.0);
  }
  const Structure* spared = c.find(vo.spared);
  const Structure& centre_of = spared != nullptr ? *spared : c.get(vo.target);
  const Eigen::Vector3d centre = g.world_mm_to_index(centroid_mm(centre_of.mask));
  std::vector<Overlay> overlays = {{&c.get(vo.target).mask, {255, 40, 40}}};
  if (spared != nullptr) overlays.push_back({&spared->mask, {0, 230, 0}});
  if (body != nullptr) overlays.push_back({&body->mask, {200, 200, 200}});
  const double rx = vo.prescription_gy;
  const std::vector<double> levels = {0.5 * rx, 0.8 * rx, 0.95 * rx, rx};
  std::vector<fs::path> written;
  for (const auto& v : kOrthogonalViews) {
    const fs::path file = dir / ("difference_" + std::string(v.name) + ".png");
    write_dose_difference_png(file, c.ct, diff, plan, levels, v.axis, slice_through(v, centre, g),
                              range, overlays);
    written.push_back(file);
  }
  return written;
}

}  // namespace linac::cli
