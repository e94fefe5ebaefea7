#include "linac/hal/command_checks.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "linac/core/text.hpp"

namespace linac::hal {
namespace {

Fault fault(FaultCode code, const std::string& device, int element, double value, double limit,
            std::string message) {
  return Fault{code, device, element, value, limit, 0.0, std::move(message)};
}

std::optional<Fault> value_in(double v, double lo, double hi, const std::string& device,
                              int element, const std::string& field) {
  if (!std::isfinite(v)) {
    return fault(FaultCode::kCommandInvalid, device, element, v, 0.0, field + " is not finite");
  }
  if (v < lo || v > hi) {
    return fault(FaultCode::kCommandOutOfRange, device, element, v, v < lo ? lo : hi,
                 field + " = " + format_number(v) + " outside [" + format_number(lo) + ", " +
                     format_number(hi) + "]");
  }
  return std::nullopt;
}

}  // namespace

std::optional<Fault> check_mlc_command(const MachineProfile& profile, const MlcCommand& cmd) {
  const auto& m = profile.mlc;
  const auto pairs = static_cast<std::size_t>(m.leaf_pairs);
  if (cmd.leaf_a_mm.size() != pairs || cmd.leaf_b_mm.size() != pairs) {
    return fault(FaultCode::kCommandInvalid, "mlc", -1, static_cast<double>(cmd.leaf_a_mm.size()),
                 static_cast<double>(pairs),
                 "command holds " + std::to_string(cmd.leaf_a_mm.size()) + " + " +
                     std::to_string(cmd.leaf_b_mm.size()) + " positions, the MLC has " +
                     std::to_string(pairs) + " pairs");
  }
  for (std::size_t n = 0; n < pairs; ++n) {
    const int a = static_cast<int>(n);
    const int b = static_cast<int>(n + pairs);
    if (auto f = value_in(cmd.leaf_a_mm[n], -m.max_extension_past_cax_mm, m.max_retraction_mm,
                          "mlc", a, "leaf A" + std::to_string(n + 1))) {
      return f;
    }
    if (auto f = value_in(cmd.leaf_b_mm[n], -m.max_retraction_mm, m.max_extension_past_cax_mm,
                          "mlc", b, "leaf B" + std::to_string(n + 1))) {
      return f;
    }
    const double gap = cmd.leaf_a_mm[n] - cmd.leaf_b_mm[n];
    if (gap < m.min_dynamic_gap_mm) {
      return fault(FaultCode::kCommandCollision, "mlc", a, gap, m.min_dynamic_gap_mm,
                   "leaf pair " + std::to_string(n + 1) + " gap " + format_number(gap) +
                       " mm below the minimum " + format_number(m.min_dynamic_gap_mm) + " mm");
    }
  }
  for (const auto* bank : {&cmd.leaf_a_mm, &cmd.leaf_b_mm}) {
    const auto [lo, hi] = std::minmax_element(bank->begin(), bank->end());
    if (*hi - *lo > m.max_bank_span_mm) {
      return fault(FaultCode::kCommandOutOfRange, "mlc", -1, *hi - *lo, m.max_bank_span_mm,
                   std::string("bank ") + (bank == &cmd.leaf_a_mm ? "A" : "B") + " span " +
                       format_number(*hi - *lo) + " mm exceeds " +
                       format_number(m.max_bank_span_mm) + " mm");
    }
  }
  return std::nullopt;
}

std::optional<Fault> check_jaw_command(const MachineProfile& profile, const JawCommand& c) {
  const auto& j = profile.jaws;
  if (auto f = value_in(c.x1_mm, -j.x_max_open_mm, j.x_max_overtravel_mm, "jaws", 0, "X1"))
    return f;
  if (auto f = value_in(c.x2_mm, -j.x_max_overtravel_mm, j.x_max_open_mm, "jaws", 1, "X2"))
    return f;
  if (auto f = value_in(c.y1_mm, -j.y_max_open_mm, j.y_max_overtravel_mm, "jaws", 2, "Y1"))
    return f;
  if (auto f = value_in(c.y2_mm, -j.y_max_overtravel_mm, j.y_max_open_mm, "jaws", 3, "Y2"))
    return f;
  if (c.x1_mm > c.x2_mm || c.y1_mm > c.y2_mm) {
    return fault(FaultCode::kCommandCollision, "jaws", -1, 0.0, 0.0, "opposing jaws would cross");
  }
  return std::nullopt;
}

std::optional<Fault> check_axis_command(const AxisProfile& a, const std::string& device,
                                        const AxisCommand& c) {
  if (auto f = value_in(c.angle_deg, a.min_deg, a.max_deg, device, -1, "angle_deg")) return f;
  return value_in(c.max_speed_deg_per_s, 0.0, a.max_speed_deg_per_s, device, -1,
                  "max_speed_deg_per_s");
}

std::optional<Fault> check_couch_command(const MachineProfile& profile, const CouchPose& p) {
  const auto& c = profile.couch;
  const std::array<double, 6> v = {p.lateral_mm,   p.longitudinal_mm, p.vertical_mm,
                                   p.rotation_deg, p.pitch_deg,       p.roll_deg};
  const std::array<double, 6> r = {c.lateral_range_mm,  c.longitudinal_range_mm,
                                   c.vertical_range_mm, c.rotation_range_deg,
                                   c.pitch_range_deg,   c.roll_range_deg};
  static const char* const kNames[] = {"lateral_mm",   "longitudinal_mm", "vertical_mm",
                                       "rotation_deg", "pitch_deg",       "roll_deg"};
  for (int n = 0; n < 6; ++n) {
    if (auto f = value_in(v[n], -r[n], r[n], "couch", n, kNames[n])) return f;
  }
  return std::nullopt;
}

std::optional<Fault> check_beam_command(const MachineProfile& profile, const BeamCommand& c) {
  const auto& d = profile.dose;
  if (auto f = value_in(c.dose_rate_mu_per_min, 0.0, d.max_dose_rate_mu_per_min, "beam", -1,
                        "dose_rate_mu_per_min")) {
    return f;
  }
  if (auto f = value_in(c.preset_mu, 0.0, 1.0e4, "beam", -1, "preset_mu")) return f;
  if (c.beam_on) {
    const bool known = std::any_of(d.nominal_energies_mv.begin(), d.nominal_energies_mv.end(),
                                   [&](double e) { return std::abs(e - c.energy_mv) < 1e-6; });
    if (!known) {
      return fault(FaultCode::kCommandOutOfRange, "beam", -1, c.energy_mv, 0.0,
                   "energy " + format_number(c.energy_mv) + " MV is not available on this machine");
    }
    if (c.preset_mu <= 0.0) {
      return fault(FaultCode::kCommandOutOfRange, "beam", -1, c.preset_mu, 0.0,
                   "beam on without a preset");
    }
  }
  return std::nullopt;
}

std::optional<Fault> check_kv_request(const MachineProfile& profile, const KvRequest& req) {
  if (req.binning != 1 && req.binning != 2 && req.binning != 4 && req.binning != 8) {
    return fault(FaultCode::kCommandOutOfRange, "imager", -1, req.binning, 8.0,
                 "binning " + std::to_string(req.binning) + " is not 1, 2, 4 or 8");
  }
  if (profile.imager.panel_columns % req.binning != 0 ||
      profile.imager.panel_rows % req.binning != 0) {
    return fault(FaultCode::kCommandOutOfRange, "imager", -1, req.binning, 0.0,
                 "binning does not divide the panel");
  }
  return value_in(req.photons_per_pixel, 0.0, 1.0e9, "imager", -1, "photons_per_pixel");
}

}  // namespace linac::hal
