// `linac qa PATH...`: delivery QA from Dynalog pairs and trajectory logs, given one by one or as
// folders (searched recursively), against a site's tolerances.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <set>
#include <sstream>

#include "cli.hpp"
#include "html.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"
#include "linac/delivery/log_qa.hpp"
#include "linac/formats/image_png.hpp"

namespace linac::cli {
namespace {

namespace fs = std::filesystem;

/// A file to analyse, and whether it was found in a folder (then a file that is not a log is
/// skipped with its reason rather than refused).
struct Candidate {
  fs::path path;
  bool in_folder = false;
};

std::vector<Candidate> expand(const std::vector<std::string>& args) {
  std::vector<Candidate> out;
  for (const auto& a : args) {
    const fs::path p(a);
    if (!fs::is_directory(p)) {
      out.push_back({p, false});
      continue;
    }
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(p, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file()) files.push_back(it->path());
    }
    if (ec) throw InputError(a, "cannot list the folder: " + ec.message());
    std::sort(files.begin(), files.end());
    for (auto& f : files) out.push_back({std::move(f), true});
  }
  return out;
}

std::string leaf_name(int leaf, int pairs) {
  if (leaf < 0) return "-";
  return leaf < pairs ? "A" + std::to_string(leaf + 1) : "B" + std::to_string(leaf - pairs + 1);
}

nlohmann::json analysis_json(const delivery::MachineLog& log, const delivery::LogAnalysis& a,
                             const delivery::GammaCriteria& criteria,
                             const delivery::QaTolerances& tol, double seconds) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : log.files) files.push_back(f.string());
  const std::vector<std::string> failures = delivery::tolerance_failures(a, tol);
  return {
      {"file", log.files.front().string()},
      {"files", files},
      {"format", a.format},
      {"beam", a.beam_name},
      {"snapshots", a.snapshots},
      {"beam_on_snapshots", a.beam_on_snapshots},
      {"mu", a.format == "dynalog" && log.beam_mu <= 0.0 ? nlohmann::json() : nlohmann::json(a.mu)},
      {"dose_fraction", a.dose_fraction},
      {"gantry_deg", {a.gantry_from_deg, a.gantry_to_deg}},
      {"rms_mm", {{"mean", a.rms_mean_mm}, {"max", a.rms_max_mm}}},
      {"p95_mm", a.p95_mm},
      {"max_error_mm", a.max_error_mm},
      {"worst_leaf", leaf_name(a.worst_leaf, log.leaf_pairs)},
      {"beam_holds", a.beam_holds},
      {"beam_on_s", a.beam_on_s},
      {"gamma",
       {{"criteria", a.gamma.criteria},
        {"pass_pct", a.gamma.pass_pct},
        {"mean", a.gamma.mean_gamma},
        {"evaluated_pixels", a.gamma.evaluated},
        {"threshold_pct", criteria.threshold_pct}}},
      {"gamma_pylinac",
       {{"criteria", a.gamma_pylinac.criteria},
        {"pass_pct", a.gamma_pylinac.pass_pct},
        {"mean", a.gamma_pylinac.mean_gamma},
        {"evaluated_pixels", a.gamma_pylinac.evaluated}}},
      {"pass", failures.empty()},
      {"failures", failures},
      {"analysis_s", seconds}};
}

nlohmann::json write_pngs(const delivery::MachineLog& log, const delivery::LogAnalysis& a,
                          const fs::path& dir) {
  const std::string stem = log.files.front().stem().string();
  const double vmax = std::max(a.expected.max(), a.actual.max());
  write_map_png(dir / (stem + "_expected_fluence.png"), a.expected.rows, a.expected.cols,
                a.expected.mu, 0.0, vmax, ColourMap::kViridis);
  write_map_png(dir / (stem + "_actual_fluence.png"), a.actual.rows, a.actual.cols, a.actual.mu,
                0.0, vmax, ColourMap::kViridis);
  write_map_png(dir / (stem + "_gamma.png"), a.actual.rows, a.actual.cols, a.gamma.gamma, 0.0, 2.0,
                ColourMap::kJet);
  return {(dir / (stem + "_expected_fluence.png")).string(),
          (dir / (stem + "_actual_fluence.png")).string(), (dir / (stem + "_gamma.png")).string()};
}

/// qa.json, qa.csv (one row per log) and report.html (the logs, then the skipped files) in `dir`.
void write_outputs(const nlohmann::json& out, const fs::path& dir) {
  fs::create_directories(dir);
  const std::string json_text = out.dump(1) + "\n";
  write_file_atomically(dir / "qa.json", {json_text});
  std::ostringstream csv;
  csv << "file,format,beam,beam_on_snapshots,mu,rms_mean_mm,rms_max_mm,p95_mm,max_error_mm,"
         "beam_holds,beam_on_s,gamma_pass_pct,pass\n";
  std::ostringstream html;
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Delivery QA"
          "</title><style>body{font-family:sans-serif}td,th{padding:2px 8px;text-align:right}"
          ".fail{color:#b00}</style></head><body>\n<h1>Delivery QA</h1>\n<p>"
       << esc(out["tolerances"].dump()) << "</p>\n<table><tr><th>log</th><th>beam</th>"
       << "<th>MU</th><th>RMS mean mm</th><th>RMS max mm</th><th>p95 mm</th><th>holds</th>"
       << "<th>beam on s</th><th>gamma %</th><th>result</th></tr>\n";
  for (const auto& j : out["logs"]) {
    const std::string mu = j["mu"].is_null() ? "" : format_number(j["mu"].get<double>());
    csv << j["file"].get<std::string>() << "," << j["format"].get<std::string>() << ","
        << j["beam"].get<std::string>() << "," << j["beam_on_snapshots"].get<int>() << "," << mu
        << "," << j["rms_mm"]["mean"].get<double>() << "," << j["rms_mm"]["max"].get<double>()
        << "," << j["p95_mm"].get<double>() << "," << j["max_error_mm"].get<double>() << ","
        << j["beam_holds"].get<int>() << "," << j["beam_on_s"].get<double>() << ","
        << j["gamma"]["pass_pct"].get<double>() << "," << (j["pass"].get<bool>() ? 1 : 0) << "\n";
    std::string result = "pass";
    if (!j["pass"].get<bool>()) {
      result.clear();
      for (const auto& f : j["failures"])
        result += (result.empty() ? "" : "; ") + f.get<std::string>();
    }
    html << "<tr><td style=\"text-align:left\">" << esc(j["file"].get<std::string>()) << "</td><td>"
         << esc(j["beam"].get<std::string>()) << "</td><td>" << mu << "</td><td>"
         << format_measured(j["rms_mm"]["mean"].get<double>()) << "</td><td>"
         << format_measured(j["rms_mm"]["max"].get<double>()) << "</td><td>"
         << format_measured(j["p95_mm"].get<double>()) << "</td><td>" << j["beam_holds"].get<int>()
         << "</td><td>" << format_measured(j["beam_on_s"].get<double>()) << "</td><td>"
         << format_measured(j["gamma"]["pass_pct"].get<double>()) << "</td><td"
         << (j["pass"].get<bool>() ? ">" : " class=\"fail\">") << esc(result) << "</td></tr>\n";
  }
  html << "</table>\n<h2>Skipped files</h2>\n<ul>\n";
  for (const auto& s : out["skipped"]) {
    html << "<li>" << esc(s["file"].get<std::string>()) << ": "
         << esc(s["reason"].get<std::string>()) << "</li>\n";
  }
  html << "</ul>\n</body></html>\n";
  const std::string csv_text = csv.str();
  const std::string html_text = html.str();
  write_file_atomically(dir / "qa.csv", {csv_text});
  write_file_atomically(dir / "report.html", {html_text});
}

void print_table(const nlohmann::json& out, const delivery::GammaCriteria& criteria) {
  std::printf("%-40s %6s %8s %9s %9s %8s %6s %10s %s\n", "log", "snaps", "MU", "RMS mm", "max RMS",
              "p95 mm", "holds", "gamma %", "result");
  for (const auto& j : out["logs"]) {
    std::printf("%-40s %6d %8.2f %9.3f %9.3f %8.3f %6d %10.2f %s\n",
                fs::path(j["file"].get<std::string>()).filename().c_str(),
                j["beam_on_snapshots"].get<int>(),
                j["mu"].is_null() ? std::nan("") : j["mu"].get<double>(),
                j["rms_mm"]["mean"].get<double>(), j["rms_mm"]["max"].get<double>(),
                j["p95_mm"].get<double>(), j["beam_holds"].get<int>(),
                j["gamma"]["pass_pct"].get<double>(), j["pass"].get<bool>() ? "pass" : "FAIL");
  }
  for (const auto& s : out["skipped"]) {
    const std::string file = s["file"].get<std::string>();
    const std::string reason = s["reason"].get<std::string>();
    // The reason names the file it is about: this one, or its Dynalog partner.
    if (reason.rfind(file, 0) == 0) {
      std::printf("skipped %s\n", reason.c_str());
    } else {
      std::printf("skipped %s, with its partner: %s\n", file.c_str(), reason.c_str());
    }
  }
  std::printf("gamma %s, %s %% threshold (MU nan: a Dynalog does not carry the beam's MU)\n",
              criteria.label().c_str(), format_number(criteria.threshold_pct).c_str());
}

}  // namespace

int cmd_qa(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::vector<std::string> paths;
  std::string png_dir, profile_path, out_dir, anonymize_dir;
  delivery::GammaCriteria criteria;
  delivery::QaTolerances tol;
  opts.add_options()("log", po::value(&paths)->composing()->required(),
                     "Dynalog (A or B file), trajectory log (.bin), or a folder searched "
                     "recursively; repeatable")("dose-pct",
                                                po::value(&criteria.dose_pct)->default_value(3.0),
                                                "gamma dose criterion, % of the maximum (global)")(
      "distance-mm", po::value(&criteria.distance_mm)->default_value(2.0),
      "gamma distance-to-agreement, mm")("threshold-pct",
                                         po::value(&criteria.threshold_pct)->default_value(10.0),
                                         "low-dose threshold, % of the maximum")(
      "tolerance-p95-mm", po::value(&tol.p95_mm)->default_value(1.0),
      "largest 95th percentile leaf error that passes (TG-142: 1 mm)")(
      "tolerance-gamma-pct", po::value(&tol.gamma_pass_pct)->default_value(95.0),
      "smallest gamma pass rate that passes (TG-218 tolerance limit: 95 %)")(
      "tolerance-rms-mm", po::value(&tol.rms_max_mm)->default_value(0.0),
      "largest per-leaf RMS error that passes (0: not checked)")(
      "out", po::value(&out_dir), "folder for qa.json, qa.csv and report.html")(
      "anonymize", po::value(&anonymize_dir),
      "folder for copies of every analysed log without the patient's name and ID (file names "
      "and headers)")("png", po::value(&png_dir),
                      "folder for PNG images of the fluences and the gamma map")(
      "profile", po::value(&profile_path), "machine profile (MLC leaf boundaries)");
  po::positional_options_description pos;
  pos.add("log", -1);
  po::variables_map vm;
  if (!parse("qa",
             "PATH... [--dose-pct 3] [--distance-mm 2] [--threshold-pct 10] "
             "[--tolerance-p95-mm 1] [--tolerance-gamma-pct 95] [--tolerance-rms-mm 0] "
             "[--out DIR] [--png DIR] [--anonymize DIR]",
             opts, pos, args, vm)) {
    return kOk;
  }
  if (criteria.dose_pct <= 0.0 || criteria.distance_mm <= 0.0 || criteria.threshold_pct < 0.0 ||
      criteria.threshold_pct >= 100.0) {
    throw InputError("gamma criteria", "dose and distance must be positive, threshold in [0, 100)");
  }
  if (!(tol.p95_mm > 0.0) || !(tol.gamma_pass_pct >= 0.0 && tol.gamma_pass_pct <= 100.0) ||
      !(tol.rms_max_mm >= 0.0)) {
    throw InputError("tolerances", "p95 must be positive, gamma in [0, 100], RMS >= 0");
  }
  const MachineProfile profile =
      profile_path.empty() ? default_machine_profile() : load_machine_profile(profile_path);
  if (!png_dir.empty()) fs::create_directories(png_dir);
  nlohmann::json out;
  out["tolerances"] = {
      {"p95_mm", tol.p95_mm},
      {"gamma_pass_pct", tol.gamma_pass_pct},
      {"rms_max_mm", tol.rms_max_mm > 0.0 ? nlohmann::json(tol.rms_max_mm) : nlohmann::json()},
      {"gamma_criteria", criteria.label()}};
  out["logs"] = nlohmann::json::array();
  out["skipped"] = nlohmann::json::array();
  std::set<std::string> seen;  // a Dynalog pair given as both files is analysed once
  bool all_pass = true;
  for (const auto& c : expand(paths)) {
    const auto t0 = std::chrono::steady_clock::now();
    delivery::MachineLog log;
    try {
      log = delivery::read_machine_log(c.path);
      if (log.leaf_pairs != profile.mlc.leaf_pairs) {
        throw InputError(c.path.string(), std::to_string(log.leaf_pairs) +
                                              " leaf pairs; the profile's MLC has " +
                                              std::to_string(profile.mlc.leaf_pairs));
      }
    } catch (const InputError& e) {
      if (!c.in_folder) throw;
      out["skipped"].push_back({{"file", c.path.string()}, {"reason", e.what()}});
      continue;
    }
    if (!seen.insert(log.files.front().lexically_normal().string()).second) continue;
    const auto a = delivery::analyse_log(log, profile.mlc.leaf_boundaries_mm, criteria);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json j = analysis_json(log, a, criteria, tol, seconds);
    if (!png_dir.empty()) j["png"] = write_pngs(log, a, png_dir);
    if (!anonymize_dir.empty()) {
      nlohmann::json copies = nlohmann::json::array();
      for (const auto& p : delivery::anonymize_log(log, anonymize_dir))
        copies.push_back(p.string());
      j["anonymized"] = copies;
    }
    all_pass = all_pass && j["pass"].get<bool>();
    out["logs"].push_back(j);
  }
  out["pass"] = all_pass;
  if (!out_dir.empty()) write_outputs(out, out_dir);
  if (vm.count("json") != 0) {
    std::cout << out.dump() << "\n";
  } else {
    print_table(out, criteria);
  }
  return all_pass ? kOk : kQaFailed;
}

}  // namespace linac::cli
