// `linac dose water`: the dose engine in a water phantom (PDD, profile, penumbra, output
// factor) for commissioning checks against the machine's published figures;
// `linac dose commission`: fits the beam model's parameters to those figures.
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli.hpp"
#include "html.hpp"
#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/text.hpp"
#include "linac/formats/image_png.hpp"
#include "linac/planning/beam_data.hpp"
#include "linac/planning/beam_model.hpp"
#include "linac/planning/commissioning.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::cli {

namespace fs = std::filesystem;

namespace {

std::pair<double, double> parse_field(const std::string& text) {
  double x = 0.0;
  double y = 0.0;
  char sep = 0;
  char extra = 0;
  if (std::sscanf(text.c_str(), "%lf%c%lf%c", &x, &sep, &y, &extra) != 3 ||
      (sep != 'x' && sep != 'X')) {
    throw InputError("--field", "'" + text + "' is not WIDTHxHEIGHT in mm, e.g. 100x100");
  }
  return {x, y};
}

planning::BeamModel model_from(const std::string& beam_data, const MachineProfile& profile) {
  if (beam_data.empty()) return planning::default_beam_model();
  return planning::load_beam_model(beam_data, profile.source_axis_distance_mm,
                                   profile.dose.calibration_cgy_per_mu, profile.mlc.transmission,
                                   profile.mlc.dosimetric_leaf_gap_mm);
}

}  // namespace

int cmd_dose_water(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string field = "100x100";
  std::string beam_data;
  double ssd_mm = 1000.0;
  double depth_mm = 100.0;
  opts.add_options()("field", po::value(&field)->default_value("100x100"),
                     "jaw field at the isocentre plane, WIDTHxHEIGHT mm")(
      "ssd-mm", po::value(&ssd_mm)->default_value(1000.0), "source-surface distance (mm)")(
      "profile-depth-mm", po::value(&depth_mm)->default_value(100.0),
      "depth of the crossline profile (mm)")("model", po::value(&beam_data),
                                             "beam model file (default: the machine's)");
  po::variables_map vm;
  if (!parse("dose water", "[--field 100x100] [--ssd-mm 1000] [--json]", opts, {}, args, vm)) {
    return kOk;
  }
  if (!(depth_mm >= 5.0 && depth_mm <= 300.0)) {
    throw InputError("--profile-depth-mm", "must lie in [5, 300] mm");
  }
  const auto [fx, fy] = parse_field(field);
  const MachineProfile profile = default_machine_profile();
  const planning::BeamModel model = model_from(beam_data, profile);
  const auto s =
      planning::water_scan(model, profile.mlc.leaf_boundaries_mm, fx, fy, ssd_mm, depth_mm);
  nlohmann::ordered_json j;
  j["field_mm"] = {fx, fy};
  j["ssd_mm"] = ssd_mm;
  j["dmax_mm"] = std::round(s.dmax_mm * 10.0) / 10.0;
  nlohmann::ordered_json pdd;
  for (const double d : {50.0, 100.0, 200.0}) {
    pdd[format_number(d)] = std::round(s.pdd_at(d) * 100.0) / 100.0;
  }
  j["pdd_pct"] = pdd;
  j["penumbra_80_20_mm"] = std::round(s.penumbra_80_20_mm * 100.0) / 100.0;
  j["profile_depth_mm"] = depth_mm;
  j["output_factor"] = std::round(s.output_factor * 10000.0) / 10000.0;
  j["surface_pct"] = std::round(s.surface_pct * 10.0) / 10.0;
  j["dose_at_dmax_cgy_per_mu"] = std::round(s.dose_at_dmax_gy_per_mu * 1e6) / 1e4;
  nlohmann::json curve = nlohmann::json::array();
  for (std::size_t n = 0; n < s.pdd.size(); n += 10) curve.push_back(s.pdd[n]);
  j["pdd_curve"] = curve;
  nlohmann::json prof = nlohmann::json::array();
  for (std::size_t n = 0; n < s.profile.size(); n += 4) prof.push_back(s.profile[n]);
  j["profile"] = prof;
  if (vm.count("json") != 0) {
    std::cout << j.dump() << "\n";
    return kOk;
  }
  std::printf("field %s mm at SSD %s mm\n", field.c_str(), format_number(ssd_mm).c_str());
  std::printf("dmax            %6.1f mm\n", s.dmax_mm);
  for (const double d : {50.0, 100.0, 200.0}) {
    std::printf("PDD %3.0f mm      %6.2f %%\n", d, s.pdd_at(d));
  }
  std::printf("penumbra 80-20  %6.2f mm at %s mm depth\n", s.penumbra_80_20_mm,
              format_number(depth_mm).c_str());
  std::printf("output factor   %6.4f (against 10 x 10 at its dmax)\n", s.output_factor);
  std::printf("surface dose    %6.1f %%\n", s.surface_pct);
  std::printf("dose at dmax    %6.4f cGy/MU\n", s.dose_at_dmax_gy_per_mu * 100.0);
  return kOk;
}

namespace {

/// Calculated against measured: the pictures and the HTML page of a commissioning.
void write_commissioning_report(const fs::path& dir, const planning::BeamData& data,
                                const planning::CommissioningSummary& s) {
  fs::create_directories(dir);
  const planning::BeamModel& m = s.model;
  const double ssd = data.ssd_mm;
  std::vector<std::string> pictures;
  // Depth doses: the model's curve per field, the published points (dashed) beside it.
  {
    std::vector<PlotSeries> series;
    std::size_t n = 0;
    for (const auto& f : data.fields) {
      if (f.pdd_pct.empty()) continue;
      PlotSeries calc;
      calc.name = format_measured(f.field_x_mm / 10.0, 1) + " cm";
      calc.rgb = plot_colour(n);
      const auto w = planning::water_dmax(m, f.field_x_mm, f.field_y_mm, ssd);
      for (double z = 0.0; z <= 300.0; z += 2.0) {
        calc.x.push_back(z);
        calc.y.push_back(100.0 * m.water_dose_per_mu(ssd, f.field_x_mm, f.field_y_mm, z) /
                         w.dose_at_dmax);
      }
      PlotSeries meas;
      meas.name = "";
      meas.rgb = calc.rgb;
      meas.dashed = true;
      if (!std::isnan(f.surface_pct)) {
        meas.x.push_back(0.0);
        meas.y.push_back(f.surface_pct);
      }
      if (!std::isnan(f.dmax_mm)) {
        meas.x.push_back(f.dmax_mm);
        meas.y.push_back(100.0);
      }
      for (const auto& [d, pct] : f.pdd_pct) {
        meas.x.push_back(d);
        meas.y.push_back(pct);
      }
      series.push_back(calc);
      if (meas.x.size() > 1) series.push_back(meas);
      ++n;
    }
    if (!series.empty()) {
      write_plot_png(dir / "pdd_table.png", series, "depth (mm)", "PDD (%)", 300.0, 110.0,
                     "depth doses: model (solid) and published figures (dashed)");
      pictures.push_back("pdd_table.png");
    }
  }
  // Profiles of the model at dmax, 5, 10, 20 cm for the smallest, 10 x 10 and largest fields.
  if (!data.fields.empty()) {
    std::vector<double> sides{data.fields.front().field_x_mm, 100.0, data.fields.back().field_x_mm};
    for (const double side : sides) {
      std::vector<PlotSeries> series;
      const auto w = planning::water_dmax(m, side, side, ssd);
      std::size_t n = 0;
      for (const double depth : {w.dmax_mm, 50.0, 100.0, 200.0}) {
        PlotSeries p;
        p.name = format_measured(depth, 0) + " mm";
        p.rgb = plot_colour(n++);
        const double reach = 0.5 * side * (ssd + depth) / m.sad_mm + 50.0;
        const double centre = m.water_dose_per_mu(ssd, side, side, depth);
        for (double x = 0.0; x <= reach; x += 0.5) {
          p.x.push_back(x);
          p.y.push_back(100.0 * m.water_dose_per_mu(ssd, side, side, depth, x) / centre);
        }
        series.push_back(p);
      }
      const std::string name = "profiles_" + format_measured(side, 0) + ".png";
      write_plot_png(dir / name, series, "off-axis distance (mm)", "dose (% of axis)",
                     0.5 * side * 1.2 + 50.0, 115.0,
                     "model profiles, " + format_measured(side / 10.0, 1) + " cm field");
      pictures.push_back(name);
    }
  }
  // Measured curves against the model, one picture per curve.
  for (std::size_t k = 0; k < s.curves.size(); ++k) {
    const auto& c = s.curves[k];
    PlotSeries meas{"measured", {}, {}, {0, 0, 0}, false};
    PlotSeries calc{"model", {}, {}, {214, 39, 40}, true};
    const bool pdd = c.kind == planning::BeamCurve::Kind::kDepthDose;
    double x_max = 1.0;
    for (const auto& [x, d] : c.measured) {
      if (!pdd && x < 0.0) continue;
      meas.x.push_back(x);
      meas.y.push_back(d);
      x_max = std::max(x_max, x);
    }
    for (const auto& [x, d] : c.computed) {
      if (!pdd && x < 0.0) continue;
      if (x > x_max) break;
      calc.x.push_back(x);
      calc.y.push_back(d);
    }
    const std::string name = "curve_" + std::to_string(k + 1) + ".png";
    write_plot_png(dir / name, {meas, calc}, pdd ? "depth (mm)" : "off-axis distance (mm)",
                   "dose (%)", x_max, 115.0, c.name);
    pictures.push_back(name);
  }
  std::ofstream h(dir / "commissioning.html");
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>Beam model commissioning"
       "</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
       "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,"
       "th:first-child{text-align:left}.fail{background:#fdd}.pass{background:#dfd}img{max-width:"
       "48%;margin:4px}</style></head><body>";
  h << "<h1>Beam model commissioning: " << esc(m.machine_name) << " "
    << format_measured(m.energy_mv, 0) << " MV</h1>";
  h << "<p>Beam data: " << esc(data.source) << ". Fit: " << esc(s.stop_reason) << " after "
    << s.evaluations << " evaluations, " << format_measured(s.fit_s, 1) << " s; cost "
    << format_measured(s.cost_start, 2) << " &rarr; " << format_measured(s.cost, 2) << ".</p>";
  h << "<p><b>" << s.figures.size() - static_cast<std::size_t>(s.figures_failed()) << " of "
    << s.figures.size() << " figures within tolerance; "
    << s.curves.size() - static_cast<std::size_t>(s.curves_failed()) << " of " << s.curves.size()
    << " curves within 2 % or 2 mm.</b></p>";
  if (!s.curves.empty()) {
    h << "<h2>Curves</h2><table><tr><th>curve</th><th>points</th><th>largest dose difference "
         "(%)</th><th>largest DTA beyond 2 % (mm)</th><th>2 %/2 mm pass (%)</th><th>within 2 % "
         "or 2 mm</th></tr>";
    for (const auto& c : s.curves) {
      h << "<tr class=\"" << (c.within_2pct_or_2mm ? "pass" : "fail") << "\"><td>" << esc(c.name)
        << "</td><td>" << c.measured.size() << "</td><td>"
        << format_measured(c.max_dose_difference_pct, 2) << "</td><td>"
        << format_measured(c.max_dta_mm, 2) << "</td><td>" << format_measured(c.pass_2pct_2mm, 1)
        << "</td><td>" << (c.within_2pct_or_2mm ? "yes" : "no") << "</td></tr>";
    }
    h << "</table>";
  }
  if (!s.figures.empty()) {
    h << "<h2>Figures</h2><table><tr><th>figure</th><th>measured</th><th>model</th>"
         "<th>difference</th><th>tolerance</th><th></th></tr>";
    for (const auto& f : s.figures) {
      const std::string tol = f.relative ? format_measured(100.0 * f.tolerance, 1) + " %"
                                         : format_measured(f.tolerance, 2) + " " + f.unit;
      h << "<tr class=\"" << (f.ok() ? "pass" : "fail") << "\"><td>" << esc(f.name) << "</td><td>"
        << format_measured(f.measured, 3) << "</td><td>" << format_measured(f.computed, 3)
        << "</td><td>" << format_measured(f.difference(), 3) << "</td><td>" << esc(tol)
        << "</td><td>" << (f.ok() ? "pass" : "FAIL") << "</td></tr>";
    }
    h << "</table>";
  }
  h << "<h2>Pictures</h2><div>";
  for (const auto& p : pictures) h << img(dir / p, p);
  h << "</div></body></html>\n";
  if (!h) throw std::runtime_error("cannot write " + (dir / "commissioning.html").string());
}

nlohmann::ordered_json summary_json(const planning::CommissioningSummary& s) {
  nlohmann::ordered_json j;
  j["stop_reason"] = s.stop_reason;
  j["evaluations"] = s.evaluations;
  j["fit_s"] = std::round(s.fit_s * 100.0) / 100.0;
  j["check_s"] = std::round(s.check_s * 100.0) / 100.0;
  j["cost_start"] = s.cost_start;
  j["cost"] = s.cost;
  j["figures_failed"] = s.figures_failed();
  j["curves_failed"] = s.curves_failed();
  nlohmann::ordered_json figures = nlohmann::json::array();
  for (const auto& f : s.figures) {
    figures.push_back({{"name", f.name},
                       {"unit", f.unit},
                       {"measured", f.measured},
                       {"computed", std::round(f.computed * 1e4) / 1e4},
                       {"tolerance", f.tolerance},
                       {"relative", f.relative},
                       {"ok", f.ok()}});
  }
  j["figures"] = figures;
  nlohmann::ordered_json curves = nlohmann::json::array();
  for (const auto& c : s.curves) {
    curves.push_back(
        {{"name", c.name},
         {"points", c.measured.size()},
         {"max_dose_difference_pct", std::round(c.max_dose_difference_pct * 1e3) / 1e3},
         {"max_dta_mm", std::round(c.max_dta_mm * 1e3) / 1e3},
         {"pass_2pct_2mm", std::round(c.pass_2pct_2mm * 10.0) / 10.0},
         {"within_2pct_or_2mm", c.within_2pct_or_2mm}});
  }
  j["curves"] = curves;
  j["model"] = nlohmann::json::parse(planning::beam_model_to_json(s.model));
  return j;
}

}  // namespace

int cmd_dose_commission(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string beam_data;
  std::string model_file;
  std::string out_file;
  std::string report_dir;
  int max_evaluations = 12000;
  opts.add_options()("beam-data", po::value(&beam_data),
                     "beam data set: .json (linac-beam-data), .csv or PTW .mcc (default: the "
                     "machine's published set)")(
      "model", po::value(&model_file), "starting beam model file (default: the machine's)")(
      "out", po::value(&out_file), "write the fitted beam model here (default: standard output)")(
      "report", po::value(&report_dir), "write the commissioning report (HTML, pictures) here")(
      "no-fit", "check the starting model against the data without fitting")(
      "max-evaluations", po::value(&max_evaluations)->default_value(12000),
      "limit of model evaluations of the fit");
  po::variables_map vm;
  if (!parse("dose commission",
             "[--beam-data FILE] [--model FILE] [--out FILE] [--report DIR] [--no-fit] [--json]",
             opts, {}, args, vm)) {
    return kOk;
  }
  if (max_evaluations < 1 || max_evaluations > 1000000) {
    throw InputError("--max-evaluations", "must lie in [1, 1000000]");
  }
  const MachineProfile profile = default_machine_profile();
  // Everything is read and checked before anything is written.
  const planning::BeamData data =
      beam_data.empty() ? planning::default_beam_data() : planning::read_beam_data(beam_data);
  planning::BeamModel start = model_from(model_file, profile);
  start.beam_data = fs::path(data.source).filename().string();
  planning::CommissioningOptions options;
  options.fit = vm.count("no-fit") == 0;
  options.max_evaluations = max_evaluations;
  const auto s = planning::commission_beam_model(start, data, options);
  for (const auto& note : data.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  if (!report_dir.empty()) write_commissioning_report(report_dir, data, s);
  const std::string model_json = planning::beam_model_to_json(s.model);
  if (!out_file.empty()) write_file_atomically(out_file, {model_json});
  if (vm.count("json") != 0) {
    std::cout << summary_json(s).dump() << "\n";
    return kOk;
  }
  std::fprintf(stderr, "fit: %s, %d evaluations, %.1f s, cost %.3f -> %.3f\n",
               s.stop_reason.c_str(), s.evaluations, s.fit_s, s.cost_start, s.cost);
  for (const auto& f : s.figures) {
    std::fprintf(stderr, "  %-48s measured %8.3f model %8.3f %s\n", f.name.c_str(), f.measured,
                 f.computed, f.ok() ? "" : "OUT OF TOLERANCE");
  }
  for (const auto& c : s.curves) {
    std::fprintf(stderr, "  %-40s max dose diff %5.2f %%, max DTA %5.2f mm, 2%%/2mm %5.1f %%%s\n",
                 c.name.c_str(), c.max_dose_difference_pct, c.max_dta_mm, c.pass_2pct_2mm,
                 c.within_2pct_or_2mm ? "" : "  OUT OF TOLERANCE");
  }
  std::fprintf(stderr, "%d of %zu figures and %d of %zu curves out of tolerance\n",
               s.figures_failed(), s.figures.size(), s.curves_failed(), s.curves.size());
  if (out_file.empty()) std::cout << model_json;
  return kOk;
}

}  // namespace linac::cli
