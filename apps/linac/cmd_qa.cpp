// `linac qa LOG...`: delivery QA from Dynalog pairs and trajectory logs.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/image_png.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/log_qa.hpp"

namespace linac::cli {

int cmd_qa(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::vector<std::string> logs;
  std::string png_dir, profile_path;
  delivery::GammaCriteria criteria;
  opts.add_options()("log", po::value(&logs)->composing()->required(),
                     "Dynalog (A or B file) or trajectory log (.bin); repeatable")(
      "dose-pct", po::value(&criteria.dose_pct)->default_value(3.0),
      "gamma dose criterion, % of the maximum (global)")(
      "distance-mm", po::value(&criteria.distance_mm)->default_value(2.0),
      "gamma distance-to-agreement, mm")("threshold-pct",
                                         po::value(&criteria.threshold_pct)->default_value(10.0),
                                         "low-dose threshold, % of the maximum")(
      "png", po::value(&png_dir), "folder for PNG images of the fluences and the gamma map")(
      "profile", po::value(&profile_path), "machine profile (MLC leaf boundaries)");
  po::positional_options_description pos;
  pos.add("log", -1);
  po::variables_map vm;
  if (!parse("qa", "LOG... [--dose-pct 3] [--distance-mm 2] [--threshold-pct 10] [--png DIR]", opts,
             pos, args, vm)) {
    return kOk;
  }
  if (criteria.dose_pct <= 0.0 || criteria.distance_mm <= 0.0 || criteria.threshold_pct < 0.0 ||
      criteria.threshold_pct >= 100.0) {
    throw InputError("gamma criteria", "dose and distance must be positive, threshold in [0, 100)");
  }
  const MachineProfile profile =
      profile_path.empty() ? default_machine_profile() : load_machine_profile(profile_path);
  if (!png_dir.empty()) std::filesystem::create_directories(png_dir);
  nlohmann::json out;
  out["logs"] = nlohmann::json::array();
  std::set<std::string> seen;  // a Dynalog pair given as both files is analysed once
  for (const auto& path : logs) {
    const auto t0 = std::chrono::steady_clock::now();
    const delivery::MachineLog log = delivery::read_machine_log(path);
    const std::string key = log.files.front().lexically_normal().string();
    if (!seen.insert(key).second) continue;
    if (log.leaf_pairs != profile.mlc.leaf_pairs) {
      throw InputError(path, std::to_string(log.leaf_pairs) +
                                 " leaf pairs; the profile's MLC has " +
                                 std::to_string(profile.mlc.leaf_pairs));
    }
    const auto a = delivery::analyse_log(log, profile.mlc.leaf_boundaries_mm, criteria);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j{{"file", path},
                     {"format", a.format},
                     {"beam", a.beam_name},
                     {"snapshots", a.snapshots},
                     {"beam_on_snapshots", a.beam_on_snapshots},
                     {"mu", a.format == "dynalog" && log.beam_mu <= 0.0 ? nlohmann::json()
                                                                        : nlohmann::json(a.mu)},
                     {"dose_fraction", a.dose_fraction},
                     {"gantry_deg", {a.gantry_from_deg, a.gantry_to_deg}},
                     {"rms_mm", {{"mean", a.rms_mean_mm}, {"max", a.rms_max_mm}}},
                     {"p95_mm", a.p95_mm},
                     {"max_error_mm", a.max_error_mm},
                     {"worst_leaf", a.worst_leaf < 0 ? std::string("-")
                                    : a.worst_leaf < log.leaf_pairs
                                        ? "A" + std::to_string(a.worst_leaf + 1)
                                        : "B" + std::to_string(a.worst_leaf - log.leaf_pairs + 1)},
                     {"beam_holds", a.beam_holds},
                     {"beam_on_s", a.beam_on_s},
                     {"gamma",
                      {{"criteria", a.gamma.criteria},
                       {"pass_pct", a.gamma.pass_pct},
                       {"mean", a.gamma.mean_gamma},
                       {"evaluated_pixels", a.gamma.evaluated},
                       {"threshold_pct", criteria.threshold_pct}}},
                     {"analysis_s", seconds}};
    if (!png_dir.empty()) {
      const std::string stem = log.files.front().stem().string();
      const auto dir = std::filesystem::path(png_dir);
      const double vmax = std::max(a.expected.max(), a.actual.max());
      write_map_png(dir / (stem + "_expected_fluence.png"), a.expected.rows, a.expected.cols,
                    a.expected.mu, 0.0, vmax, ColourMap::kViridis);
      write_map_png(dir / (stem + "_actual_fluence.png"), a.actual.rows, a.actual.cols, a.actual.mu,
                    0.0, vmax, ColourMap::kViridis);
      write_map_png(dir / (stem + "_gamma.png"), a.actual.rows, a.actual.cols, a.gamma.gamma, 0.0,
                    2.0, ColourMap::kJet);
      j["png"] = {(dir / (stem + "_expected_fluence.png")).string(),
                  (dir / (stem + "_actual_fluence.png")).string(),
                  (dir / (stem + "_gamma.png")).string()};
    }
    out["logs"].push_back(j);
  }
  if (vm.count("json") != 0) {
    std::cout << out.dump() << "\n";
  } else {
    std::printf("%-40s %6s %8s %9s %9s %8s %6s %10s\n", "log", "snaps", "MU", "RMS mm", "max RMS",
                "p95 mm", "holds", "gamma %");
    for (const auto& j : out["logs"]) {
      std::printf("%-40s %6d %8.2f %9.3f %9.3f %8.3f %6d %10.2f\n",
                  std::filesystem::path(j["file"].get<std::string>()).filename().c_str(),
                  j["beam_on_snapshots"].get<int>(),
                  j["mu"].is_null() ? std::nan("") : j["mu"].get<double>(),
                  j["rms_mm"]["mean"].get<double>(), j["rms_mm"]["max"].get<double>(),
                  j["p95_mm"].get<double>(), j["beam_holds"].get<int>(),
                  j["gamma"]["pass_pct"].get<double>());
    }
    std::printf("gamma %s, %s %% threshold (MU nan: a Dynalog does not carry the beam's MU)\n",
                criteria.label().c_str(), format_number(criteria.threshold_pct).c_str());
  }
  return kOk;
}

}  // namespace linac::cli
