// `linac dose water`: the dose engine in a water phantom (PDD, profile, penumbra, output
// factor) for commissioning checks against the machine's published figures;
// `linac dose commission`: fits the beam model's parameters to those figures.
#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/text.hpp"
#include "linac/planning/beam_model.hpp"
#include "linac/planning/dose_engine.hpp"

namespace linac::cli {

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
      "depth of the crossline profile (mm)")("beam-data", po::value(&beam_data),
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
  std::printf("dose at dmax    %6.4f cGy/MU\n", s.dose_at_dmax_gy_per_mu * 100.0);
  return kOk;
}

int cmd_dose_commission(const std::vector<std::string>& args) {
  po::options_description opts("options");
  std::string beam_data;
  opts.add_options()("beam-data", po::value(&beam_data),
                     "beam model file with the targets (default: the machine's)");
  po::variables_map vm;
  if (!parse("dose commission", "[--beam-data FILE] [--json]", opts, {}, args, vm)) return kOk;
  const MachineProfile profile = default_machine_profile();
  const planning::BeamModel start = model_from(beam_data, profile);
  const auto r = planning::commission_beam_model(start);
  if (vm.count("json") == 0) {
    const auto& t = start.targets;
    std::fprintf(stderr, "fit: cost %.3f after %d evaluations\n", r.cost, r.evaluations);
    std::fprintf(stderr, "  dmax %.1f mm (target %.1f)\n", r.figures.dmax_mm, t.dmax_mm);
    for (std::size_t n = 0; n < t.pdd_pct.size(); ++n) {
      std::fprintf(stderr, "  PDD %.0f mm %.2f %% (target %.2f)\n", t.pdd_pct[n].first,
                   r.figures.pdd_pct[n].second, t.pdd_pct[n].second);
    }
    for (std::size_t n = 0; n < t.output_factors.size(); ++n) {
      std::fprintf(stderr, "  OF %.0f mm %.4f (target %.4f)\n", t.output_factors[n].first,
                   r.figures.output_factors[n].second, t.output_factors[n].second);
    }
    std::fprintf(stderr, "  penumbra %.2f mm (target %.2f)\n", r.figures.penumbra_80_20_mm,
                 t.penumbra_80_20_mm);
  }
  std::cout << planning::beam_model_to_json(r.model);
  return kOk;
}

}  // namespace linac::cli
