#include "linac/core/machine_profile.hpp"

#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <cstdlib>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"
#include "linac/machine_profile.pb.h"

#ifndef LINAC_SOURCE_MACHINES_DIR
#define LINAC_SOURCE_MACHINES_DIR "machines"
#endif

namespace linac {
namespace {

class Check {
 public:
  explicit Check(std::string where) : where_(std::move(where)) {}
  [[noreturn]] void fail(const std::string& field, const std::string& what) const {
    throw InputError(where_, field + ": " + what);
  }
  void positive(double v, const std::string& field) const {
    if (!std::isfinite(v) || v <= 0.0) {
      fail(field, "= " + format_number(v) + " must be a positive number" +
                      (v == 0.0 ? " (missing?)" : ""));
    }
  }
  void non_negative(double v, const std::string& field) const {
    if (!std::isfinite(v) || v < 0.0) fail(field, "= " + format_number(v) + " must be >= 0");
  }
  void at_most(double v, double limit, const std::string& field,
               const std::string& limit_name) const {
    if (v > limit) {
      fail(field,
           "= " + format_number(v) + " exceeds " + limit_name + " = " + format_number(limit));
    }
  }

 private:
  std::string where_;
};

void axis_checks(const Check& c, const AxisProfile& a, const std::string& name) {
  if (!std::isfinite(a.min_deg) || !std::isfinite(a.max_deg) || a.min_deg >= a.max_deg) {
    c.fail(name + ".min_deg", "= " + format_number(a.min_deg) +
                                  " must be below max_deg = " + format_number(a.max_deg));
  }
  c.positive(a.max_speed_deg_per_s, name + ".max_speed_deg_per_s");
  c.positive(a.max_acceleration_deg_per_s2, name + ".max_acceleration_deg_per_s2");
  c.positive(a.position_tolerance_deg, name + ".position_tolerance_deg");
  c.non_negative(a.encoder_noise_deg, name + ".encoder_noise_deg");
  c.positive(a.overspeed_tolerance_pct, name + ".overspeed_tolerance_pct");
  c.positive(a.servo_time_constant_s, name + ".servo_time_constant_s");
  c.at_most(a.encoder_noise_deg, a.position_tolerance_deg / 5.0, name + ".encoder_noise_deg",
            "position_tolerance_deg / 5");
}

AxisProfile axis_from(const pb::AxisProfile& m) {
  return {m.min_deg(),
          m.max_deg(),
          m.max_speed_deg_per_s(),
          m.max_acceleration_deg_per_s2(),
          m.position_tolerance_deg(),
          m.encoder_noise_deg(),
          m.overspeed_tolerance_pct(),
          m.servo_time_constant_s()};
}

void axis_to(const AxisProfile& a, pb::AxisProfile* m) {
  m->set_min_deg(a.min_deg);
  m->set_max_deg(a.max_deg);
  m->set_max_speed_deg_per_s(a.max_speed_deg_per_s);
  m->set_max_acceleration_deg_per_s2(a.max_acceleration_deg_per_s2);
  m->set_position_tolerance_deg(a.position_tolerance_deg);
  m->set_encoder_noise_deg(a.encoder_noise_deg);
  m->set_overspeed_tolerance_pct(a.overspeed_tolerance_pct);
  m->set_servo_time_constant_s(a.servo_time_constant_s);
}

/// The machine's names and its source-axis distance.
void check_identity(const Check& c, const MachineProfile& p) {
  if (p.machine_name.empty()) c.fail("machine_name", "missing");
  for (std::size_t i = 0; i < p.machine_aliases.size(); ++i) {
    const std::string field = "machine_aliases[" + std::to_string(i) + "]";
    if (p.machine_aliases[i].empty()) c.fail(field, "is empty");
    if (p.machine_aliases[i] == p.machine_name) c.fail(field, "repeats machine_name");
  }
  c.positive(p.source_axis_distance_mm, "source_axis_distance_mm");
}

/// The MLC: leaf pairs and boundaries, speeds, reach and span, gap, transmission, servo.
void check_mlc(const Check& c, const MlcProfile& m) {
  if (m.leaf_pairs <= 0)
    c.fail("mlc.leaf_pairs", "= " + std::to_string(m.leaf_pairs) + " must be positive");
  if (m.leaf_boundaries_mm.size() != static_cast<std::size_t>(m.leaf_pairs) + 1) {
    c.fail("mlc.leaf_boundaries_mm",
           "has " + std::to_string(m.leaf_boundaries_mm.size()) +
               " values, leaf_pairs + 1 = " + std::to_string(m.leaf_pairs + 1) + " are needed");
  }
  for (std::size_t n = 0; n < m.leaf_boundaries_mm.size(); ++n) {
    if (!std::isfinite(m.leaf_boundaries_mm[n]) ||
        (n > 0 && m.leaf_boundaries_mm[n] <= m.leaf_boundaries_mm[n - 1])) {
      c.fail("mlc.leaf_boundaries_mm[" + std::to_string(n) + "]",
             "= " + format_number(m.leaf_boundaries_mm[n]) +
                 " must be finite and above the one before");
    }
  }
  c.positive(m.max_leaf_speed_mm_per_s, "mlc.max_leaf_speed_mm_per_s");
  c.positive(m.max_leaf_acceleration_mm_per_s2, "mlc.max_leaf_acceleration_mm_per_s2");
  c.positive(m.max_extension_past_cax_mm, "mlc.max_extension_past_cax_mm");
  c.positive(m.max_retraction_mm, "mlc.max_retraction_mm");
  c.positive(m.max_bank_span_mm, "mlc.max_bank_span_mm");
  c.at_most(m.max_bank_span_mm, m.max_extension_past_cax_mm + m.max_retraction_mm,
            "mlc.max_bank_span_mm", "max_extension_past_cax_mm + max_retraction_mm");
  c.non_negative(m.min_dynamic_gap_mm, "mlc.min_dynamic_gap_mm");
  c.non_negative(m.transmission, "mlc.transmission");
  c.at_most(m.transmission, 0.2, "mlc.transmission", "the plausible limit");
  c.non_negative(m.dosimetric_leaf_gap_mm, "mlc.dosimetric_leaf_gap_mm");
  c.positive(m.position_tolerance_mm, "mlc.position_tolerance_mm");
  c.positive(m.servo_time_constant_s, "mlc.servo_time_constant_s");
  c.non_negative(m.encoder_noise_mm, "mlc.encoder_noise_mm");
  c.at_most(m.encoder_noise_mm, m.position_tolerance_mm / 5.0, "mlc.encoder_noise_mm",
            "position_tolerance_mm / 5");
}

/// The jaws: opening, overtravel, speed and servo.
void check_jaws(const Check& c, const JawProfile& j) {
  c.positive(j.x_max_open_mm, "jaws.x_max_open_mm");
  c.non_negative(j.x_max_overtravel_mm, "jaws.x_max_overtravel_mm");
  c.at_most(j.x_max_overtravel_mm, j.x_max_open_mm, "jaws.x_max_overtravel_mm", "x_max_open_mm");
  c.positive(j.y_max_open_mm, "jaws.y_max_open_mm");
  c.non_negative(j.y_max_overtravel_mm, "jaws.y_max_overtravel_mm");
  c.at_most(j.y_max_overtravel_mm, j.y_max_open_mm, "jaws.y_max_overtravel_mm", "y_max_open_mm");
  c.positive(j.max_speed_mm_per_s, "jaws.max_speed_mm_per_s");
  c.positive(j.position_tolerance_mm, "jaws.position_tolerance_mm");
  c.positive(j.servo_time_constant_s, "jaws.servo_time_constant_s");
  c.non_negative(j.encoder_noise_mm, "jaws.encoder_noise_mm");
}

/// The dose channels: energies, dose rates, MU per degree, calibration, the two chambers' limits.
void check_dose(const Check& c, const DoseProfile& d) {
  if (d.nominal_energies_mv.empty()) c.fail("dose.nominal_energies_mv", "missing");
  for (std::size_t n = 0; n < d.nominal_energies_mv.size(); ++n) {
    c.positive(d.nominal_energies_mv[n], "dose.nominal_energies_mv[" + std::to_string(n) + "]");
  }
  c.positive(d.max_dose_rate_mu_per_min, "dose.max_dose_rate_mu_per_min");
  for (std::size_t n = 0; n < d.fixed_dose_rates_mu_per_min.size(); ++n) {
    const std::string f = "dose.fixed_dose_rates_mu_per_min[" + std::to_string(n) + "]";
    c.positive(d.fixed_dose_rates_mu_per_min[n], f);
    c.at_most(d.fixed_dose_rates_mu_per_min[n], d.max_dose_rate_mu_per_min, f,
              "max_dose_rate_mu_per_min");
  }
  c.positive(d.min_mu_per_deg, "dose.min_mu_per_deg");
  c.positive(d.max_mu_per_deg, "dose.max_mu_per_deg");
  if (d.min_mu_per_deg >= d.max_mu_per_deg) {
    c.fail("dose.min_mu_per_deg",
           "= " + format_number(d.min_mu_per_deg) +
               " must be below max_mu_per_deg = " + format_number(d.max_mu_per_deg));
  }
  c.positive(d.calibration_cgy_per_mu, "dose.calibration_cgy_per_mu");
  c.positive(d.channel_disagreement_tolerance_mu, "dose.channel_disagreement_tolerance_mu");
  c.positive(d.channel_disagreement_tolerance_pct, "dose.channel_disagreement_tolerance_pct");
  c.positive(d.secondary_limit_over_preset_mu, "dose.secondary_limit_over_preset_mu");
  if (d.secondary_limit_over_preset_mu <= d.channel_disagreement_tolerance_mu) {
    c.fail("dose.secondary_limit_over_preset_mu",
           "= " + format_number(d.secondary_limit_over_preset_mu) +
               " must exceed channel_disagreement_tolerance_mu = " +
               format_number(d.channel_disagreement_tolerance_mu) +
               " (otherwise a normal disagreement would trip the backstop)");
  }
  c.non_negative(d.chamber_noise_pct, "dose.chamber_noise_pct");
  c.positive(d.dose_rate_tolerance_pct, "dose.dose_rate_tolerance_pct");
  c.positive(d.dose_rate_dropout_timeout_s, "dose.dose_rate_dropout_timeout_s");
  c.non_negative(d.dose_rate_ripple_pct, "dose.dose_rate_ripple_pct");
  c.at_most(d.dose_rate_ripple_pct, d.dose_rate_tolerance_pct / 2.0, "dose.dose_rate_ripple_pct",
            "dose_rate_tolerance_pct / 2");
  c.positive(d.dose_rate_servo_time_constant_s, "dose.dose_rate_servo_time_constant_s");
}

/// The couch: ranges, the correction's rotation, speeds and tolerances.
void check_couch(const Check& c, const CouchProfile& k) {
  c.positive(k.lateral_range_mm, "couch.lateral_range_mm");
  c.positive(k.longitudinal_range_mm, "couch.longitudinal_range_mm");
  c.positive(k.vertical_range_mm, "couch.vertical_range_mm");
  c.positive(k.rotation_range_deg, "couch.rotation_range_deg");
  c.positive(k.pitch_range_deg, "couch.pitch_range_deg");
  c.positive(k.roll_range_deg, "couch.roll_range_deg");
  c.positive(k.max_correction_rotation_deg, "couch.max_correction_rotation_deg");
  c.at_most(k.max_correction_rotation_deg, k.rotation_range_deg,
            "couch.max_correction_rotation_deg", "rotation_range_deg");
  c.positive(k.max_speed_mm_per_s, "couch.max_speed_mm_per_s");
  c.positive(k.max_speed_deg_per_s, "couch.max_speed_deg_per_s");
  c.positive(k.position_tolerance_mm, "couch.position_tolerance_mm");
  c.positive(k.position_tolerance_deg, "couch.position_tolerance_deg");
}

/// The kV imager: geometry, panel, half-fan offset, beam, scatter.
void check_imager(const Check& c, const ImagerProfile& im) {
  c.positive(im.source_axis_distance_mm, "imager.source_axis_distance_mm");
  c.positive(im.source_imager_distance_mm, "imager.source_imager_distance_mm");
  if (im.source_imager_distance_mm <= im.source_axis_distance_mm) {
    c.fail("imager.source_imager_distance_mm", "= " + format_number(im.source_imager_distance_mm) +
                                                   " must exceed source_axis_distance_mm = " +
                                                   format_number(im.source_axis_distance_mm));
  }
  c.positive(im.pixel_pitch_mm, "imager.pixel_pitch_mm");
  if (im.panel_columns <= 0 || im.panel_rows <= 0)
    c.fail("imager.panel_columns", "panel size missing");
  const double w = im.panel_columns * im.pixel_pitch_mm;
  const double h = im.panel_rows * im.pixel_pitch_mm;
  if (std::abs(w - im.panel_width_mm) > 0.01 * im.panel_width_mm + 1e-9) {
    c.fail("imager.panel_width_mm",
           "= " + format_number(im.panel_width_mm) +
               " disagrees with panel_columns x pixel_pitch_mm = " + format_number(w));
  }
  if (std::abs(h - im.panel_height_mm) > 0.01 * im.panel_height_mm + 1e-9) {
    c.fail("imager.panel_height_mm",
           "= " + format_number(im.panel_height_mm) +
               " disagrees with panel_rows x pixel_pitch_mm = " + format_number(h));
  }
  c.non_negative(im.half_fan_offset_mm, "imager.half_fan_offset_mm");
  c.at_most(im.half_fan_offset_mm, im.panel_width_mm / 2.0, "imager.half_fan_offset_mm",
            "panel_width_mm / 2");
  c.positive(im.kvp, "imager.kvp");
  if (im.projections_per_rotation <= 0) c.fail("imager.projections_per_rotation", "missing");
  c.non_negative(im.scatter_scale, "imager.scatter_scale");
  c.at_most(im.scatter_scale, 0.05, "imager.scatter_scale", "0.05");
}

/// The interlocks' timing: control cycle, heartbeat, Dynalog sampling.
void check_interlocks(const Check& c, const InterlockProfile& il) {
  c.positive(il.control_cycle_s, "interlocks.control_cycle_s");
  c.positive(il.heartbeat_period_s, "interlocks.heartbeat_period_s");
  if (il.heartbeat_loss_cycles < 1)
    c.fail("interlocks.heartbeat_loss_cycles", "must be at least 1");
  c.positive(il.dynalog_sample_period_s, "interlocks.dynalog_sample_period_s");
  c.at_most(il.control_cycle_s, il.dynalog_sample_period_s, "interlocks.control_cycle_s",
            "dynalog_sample_period_s");
}

}  // namespace

void validate_machine_profile(const MachineProfile& p, const std::string& where) {
  const Check c(where);
  check_identity(c, p);
  check_mlc(c, p.mlc);
  check_jaws(c, p.jaws);
  axis_checks(c, p.gantry, "gantry");
  axis_checks(c, p.collimator, "collimator");
  check_dose(c, p.dose);
  check_couch(c, p.couch);
  check_imager(c, p.imager);
  check_interlocks(c, p.interlocks);
}

MachineProfile machine_profile_from_json(const std::string& json, const std::string& where) {
  pb::MachineProfile m;
  google::protobuf::util::JsonParseOptions opts;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &m, opts);
  if (!status.ok()) {
    throw InputError(where, "bad machine profile JSON: " + std::string(status.message()));
  }
  if (m.schema_version() != 1) {
    throw InputError(where,
                     "schema_version = " + std::to_string(m.schema_version()) + ", expected 1");
  }
  for (const auto* name :
       {"mlc", "jaws", "gantry", "collimator", "dose", "couch", "imager", "interlocks"}) {
    const auto* field = m.GetDescriptor()->FindFieldByName(name);
    if (!m.GetReflection()->HasField(m, field))
      throw InputError(where, std::string("missing ") + name);
  }
  MachineProfile p;
  p.machine_name = m.machine_name();
  p.machine_aliases.assign(m.machine_aliases().begin(), m.machine_aliases().end());
  p.model = m.model();
  p.source_axis_distance_mm = m.source_axis_distance_mm();
  const auto& mm = m.mlc();
  p.mlc = {mm.model(),
           static_cast<int>(mm.leaf_pairs()),
           {mm.leaf_boundaries_mm().begin(), mm.leaf_boundaries_mm().end()},
           mm.max_leaf_speed_mm_per_s(),
           mm.max_leaf_acceleration_mm_per_s2(),
           mm.max_extension_past_cax_mm(),
           mm.max_retraction_mm(),
           mm.max_bank_span_mm(),
           mm.min_dynamic_gap_mm(),
           mm.interdigitation_allowed(),
           mm.transmission(),
           mm.dosimetric_leaf_gap_mm(),
           mm.position_tolerance_mm(),
           mm.servo_time_constant_s(),
           mm.encoder_noise_mm()};
  const auto& j = m.jaws();
  p.jaws = {j.x_max_open_mm(),         j.x_max_overtravel_mm(), j.y_max_open_mm(),
            j.y_max_overtravel_mm(),   j.max_speed_mm_per_s(),  j.position_tolerance_mm(),
            j.servo_time_constant_s(), j.encoder_noise_mm()};
  p.gantry = axis_from(m.gantry());
  p.collimator = axis_from(m.collimator());
  const auto& d = m.dose();
  p.dose = {{d.nominal_energies_mv().begin(), d.nominal_energies_mv().end()},
            {d.fixed_dose_rates_mu_per_min().begin(), d.fixed_dose_rates_mu_per_min().end()},
            d.max_dose_rate_mu_per_min(),
            d.min_mu_per_deg(),
            d.max_mu_per_deg(),
            d.calibration_cgy_per_mu(),
            d.channel_disagreement_tolerance_mu(),
            d.channel_disagreement_tolerance_pct(),
            d.secondary_limit_over_preset_mu(),
            d.chamber_noise_pct(),
            d.dose_rate_tolerance_pct(),
            d.dose_rate_dropout_timeout_s(),
            d.dose_rate_ripple_pct(),
            d.dose_rate_servo_time_constant_s()};
  const auto& k = m.couch();
  p.couch = {k.lateral_range_mm(),
             k.longitudinal_range_mm(),
             k.vertical_range_mm(),
             k.rotation_range_deg(),
             k.pitch_range_deg(),
             k.roll_range_deg(),
             k.max_correction_rotation_deg(),
             k.max_speed_mm_per_s(),
             k.max_speed_deg_per_s(),
             k.position_tolerance_mm(),
             k.position_tolerance_deg()};
  const auto& im = m.imager();
  p.imager = {im.source_axis_distance_mm(),
              im.source_imager_distance_mm(),
              im.panel_width_mm(),
              im.panel_height_mm(),
              static_cast<int>(im.panel_columns()),
              static_cast<int>(im.panel_rows()),
              im.pixel_pitch_mm(),
              im.half_fan_offset_mm(),
              im.kvp(),
              static_cast<int>(im.projections_per_rotation()),
              im.scatter_scale(),
              im.scatter_blur_mm() > 0.0 ? im.scatter_blur_mm() : 60.0};
  const auto& il = m.interlocks();
  p.interlocks = {il.control_cycle_s(), il.heartbeat_period_s(),
                  static_cast<int>(il.heartbeat_loss_cycles()), il.dynalog_sample_period_s()};
  validate_machine_profile(p, where);
  return p;
}

std::string machine_profile_to_json(const MachineProfile& p) {
  pb::MachineProfile m;
  m.set_schema_version(1);
  m.set_machine_name(p.machine_name);
  for (const auto& a : p.machine_aliases) m.add_machine_aliases(a);
  m.set_model(p.model);
  m.set_source_axis_distance_mm(p.source_axis_distance_mm);
  auto* mm = m.mutable_mlc();
  mm->set_model(p.mlc.model);
  mm->set_leaf_pairs(static_cast<unsigned>(p.mlc.leaf_pairs));
  for (const double b : p.mlc.leaf_boundaries_mm) mm->add_leaf_boundaries_mm(b);
  mm->set_max_leaf_speed_mm_per_s(p.mlc.max_leaf_speed_mm_per_s);
  mm->set_max_leaf_acceleration_mm_per_s2(p.mlc.max_leaf_acceleration_mm_per_s2);
  mm->set_max_extension_past_cax_mm(p.mlc.max_extension_past_cax_mm);
  mm->set_max_retraction_mm(p.mlc.max_retraction_mm);
  mm->set_max_bank_span_mm(p.mlc.max_bank_span_mm);
  mm->set_min_dynamic_gap_mm(p.mlc.min_dynamic_gap_mm);
  mm->set_interdigitation_allowed(p.mlc.interdigitation_allowed);
  mm->set_transmission(p.mlc.transmission);
  mm->set_dosimetric_leaf_gap_mm(p.mlc.dosimetric_leaf_gap_mm);
  mm->set_position_tolerance_mm(p.mlc.position_tolerance_mm);
  mm->set_servo_time_constant_s(p.mlc.servo_time_constant_s);
  mm->set_encoder_noise_mm(p.mlc.encoder_noise_mm);
  auto* j = m.mutable_jaws();
  j->set_x_max_open_mm(p.jaws.x_max_open_mm);
  j->set_x_max_overtravel_mm(p.jaws.x_max_overtravel_mm);
  j->set_y_max_open_mm(p.jaws.y_max_open_mm);
  j->set_y_max_overtravel_mm(p.jaws.y_max_overtravel_mm);
  j->set_max_speed_mm_per_s(p.jaws.max_speed_mm_per_s);
  j->set_position_tolerance_mm(p.jaws.position_tolerance_mm);
  j->set_servo_time_constant_s(p.jaws.servo_time_constant_s);
  j->set_encoder_noise_mm(p.jaws.encoder_noise_mm);
  axis_to(p.gantry, m.mutable_gantry());
  axis_to(p.collimator, m.mutable_collimator());
  auto* d = m.mutable_dose();
  for (const double e : p.dose.nominal_energies_mv) d->add_nominal_energies_mv(e);
  for (const double r : p.dose.fixed_dose_rates_mu_per_min) d->add_fixed_dose_rates_mu_per_min(r);
  d->set_max_dose_rate_mu_per_min(p.dose.max_dose_rate_mu_per_min);
  d->set_min_mu_per_deg(p.dose.min_mu_per_deg);
  d->set_max_mu_per_deg(p.dose.max_mu_per_deg);
  d->set_calibration_cgy_per_mu(p.dose.calibration_cgy_per_mu);
  d->set_channel_disagreement_tolerance_mu(p.dose.channel_disagreement_tolerance_mu);
  d->set_channel_disagreement_tolerance_pct(p.dose.channel_disagreement_tolerance_pct);
  d->set_secondary_limit_over_preset_mu(p.dose.secondary_limit_over_preset_mu);
  d->set_chamber_noise_pct(p.dose.chamber_noise_pct);
  d->set_dose_rate_tolerance_pct(p.dose.dose_rate_tolerance_pct);
  d->set_dose_rate_dropout_timeout_s(p.dose.dose_rate_dropout_timeout_s);
  d->set_dose_rate_ripple_pct(p.dose.dose_rate_ripple_pct);
  d->set_dose_rate_servo_time_constant_s(p.dose.dose_rate_servo_time_constant_s);
  auto* k = m.mutable_couch();
  k->set_lateral_range_mm(p.couch.lateral_range_mm);
  k->set_longitudinal_range_mm(p.couch.longitudinal_range_mm);
  k->set_vertical_range_mm(p.couch.vertical_range_mm);
  k->set_rotation_range_deg(p.couch.rotation_range_deg);
  k->set_pitch_range_deg(p.couch.pitch_range_deg);
  k->set_roll_range_deg(p.couch.roll_range_deg);
  k->set_max_correction_rotation_deg(p.couch.max_correction_rotation_deg);
  k->set_max_speed_mm_per_s(p.couch.max_speed_mm_per_s);
  k->set_max_speed_deg_per_s(p.couch.max_speed_deg_per_s);
  k->set_position_tolerance_mm(p.couch.position_tolerance_mm);
  k->set_position_tolerance_deg(p.couch.position_tolerance_deg);
  auto* im = m.mutable_imager();
  im->set_source_axis_distance_mm(p.imager.source_axis_distance_mm);
  im->set_source_imager_distance_mm(p.imager.source_imager_distance_mm);
  im->set_panel_width_mm(p.imager.panel_width_mm);
  im->set_panel_height_mm(p.imager.panel_height_mm);
  im->set_panel_columns(static_cast<unsigned>(p.imager.panel_columns));
  im->set_panel_rows(static_cast<unsigned>(p.imager.panel_rows));
  im->set_pixel_pitch_mm(p.imager.pixel_pitch_mm);
  im->set_half_fan_offset_mm(p.imager.half_fan_offset_mm);
  im->set_kvp(p.imager.kvp);
  im->set_projections_per_rotation(static_cast<unsigned>(p.imager.projections_per_rotation));
  im->set_scatter_scale(p.imager.scatter_scale);
  im->set_scatter_blur_mm(p.imager.scatter_blur_mm);
  auto* il = m.mutable_interlocks();
  il->set_control_cycle_s(p.interlocks.control_cycle_s);
  il->set_heartbeat_period_s(p.interlocks.heartbeat_period_s);
  il->set_heartbeat_loss_cycles(static_cast<unsigned>(p.interlocks.heartbeat_loss_cycles));
  il->set_dynalog_sample_period_s(p.interlocks.dynalog_sample_period_s);
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

MachineProfile load_machine_profile(const std::filesystem::path& path) {
  return machine_profile_from_json(read_text_file(path), path.string());
}

std::filesystem::path machines_dir() {
  if (const char* env = std::getenv("LINAC_MACHINES_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return LINAC_SOURCE_MACHINES_DIR;
}

MachineProfile default_machine_profile() {
  return load_machine_profile(machines_dir() / "clinac-ix.json");
}

}  // namespace linac
