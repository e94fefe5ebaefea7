#pragma once
// The machine profile: limits and tolerances of one treatment machine, read from a data file
// (machines/clinac-ix.json, Protobuf JSON mapping of proto/linac/machine_profile.proto) and
// validated on loading. Every module takes its limits from here, never from constants.
#include <filesystem>
#include <string>
#include <vector>

namespace linac {

struct MlcProfile {
  std::string model;
  int leaf_pairs = 0;
  std::vector<double> leaf_boundaries_mm;  // leaf_pairs + 1, increasing
  double max_leaf_speed_mm_per_s = 0.0;
  double max_leaf_acceleration_mm_per_s2 = 0.0;
  double max_extension_past_cax_mm = 0.0;
  double max_retraction_mm = 0.0;
  double max_bank_span_mm = 0.0;
  double min_dynamic_gap_mm = 0.0;
  bool interdigitation_allowed = true;
  double transmission = 0.0;
  double dosimetric_leaf_gap_mm = 0.0;
  double position_tolerance_mm = 0.0;
  double servo_time_constant_s = 0.0;
  double encoder_noise_mm = 0.0;

  /// Width of leaf pair `n` at isocentre.
  [[nodiscard]] double leaf_width_mm(int n) const {
    return leaf_boundaries_mm[n + 1] - leaf_boundaries_mm[n];
  }
};

struct JawProfile {
  double x_max_open_mm = 0.0;
  double x_max_overtravel_mm = 0.0;
  double y_max_open_mm = 0.0;
  double y_max_overtravel_mm = 0.0;
  double max_speed_mm_per_s = 0.0;
  double position_tolerance_mm = 0.0;
  double servo_time_constant_s = 0.0;
  double encoder_noise_mm = 0.0;
};

struct AxisProfile {
  double min_deg = 0.0;
  double max_deg = 0.0;
  double max_speed_deg_per_s = 0.0;
  double max_acceleration_deg_per_s2 = 0.0;
  double position_tolerance_deg = 0.0;
  double encoder_noise_deg = 0.0;
  double overspeed_tolerance_pct = 0.0;
  double servo_time_constant_s = 0.1;
};

struct DoseProfile {
  std::vector<double> nominal_energies_mv;
  std::vector<double> fixed_dose_rates_mu_per_min;
  double max_dose_rate_mu_per_min = 0.0;
  double min_mu_per_deg = 0.0;
  double max_mu_per_deg = 0.0;
  double calibration_cgy_per_mu = 0.0;
  double channel_disagreement_tolerance_mu = 0.0;
  double channel_disagreement_tolerance_pct = 0.0;
  double secondary_limit_over_preset_mu = 0.0;
  double chamber_noise_pct = 0.0;
  double dose_rate_tolerance_pct = 0.0;
  double dose_rate_dropout_timeout_s = 0.0;
  double dose_rate_ripple_pct = 0.0;
  double dose_rate_servo_time_constant_s = 0.0;
};

struct CouchProfile {
  double lateral_range_mm = 0.0;
  double longitudinal_range_mm = 0.0;
  double vertical_range_mm = 0.0;
  double rotation_range_deg = 0.0;
  double pitch_range_deg = 0.0;
  double roll_range_deg = 0.0;
  double max_correction_rotation_deg = 0.0;
  double max_speed_mm_per_s = 0.0;
  double max_speed_deg_per_s = 0.0;
  double position_tolerance_mm = 0.0;
  double position_tolerance_deg = 0.0;
};

struct ImagerProfile {
  double source_axis_distance_mm = 0.0;
  double source_imager_distance_mm = 0.0;
  double panel_width_mm = 0.0;
  double panel_height_mm = 0.0;
  int panel_columns = 0;
  int panel_rows = 0;
  double pixel_pitch_mm = 0.0;
  double half_fan_offset_mm = 0.0;
  double kvp = 0.0;
  int projections_per_rotation = 0;
  double scatter_scale = 0.0;     // simulated scatter: scale x blur(1 - primary), 0: none
  double scatter_blur_mm = 60.0;  // at the panel
};

struct InterlockProfile {
  double control_cycle_s = 0.0;
  double heartbeat_period_s = 0.0;
  int heartbeat_loss_cycles = 0;
  double dynalog_sample_period_s = 0.0;
};

struct MachineProfile {
  std::string machine_name;
  /// Other names the machine answers to in a plan (a planning system's machine ID); exact.
  std::vector<std::string> machine_aliases;
  std::string model;
  double source_axis_distance_mm = 0.0;
  MlcProfile mlc;
  JawProfile jaws;
  AxisProfile gantry;
  AxisProfile collimator;
  DoseProfile dose;
  CouchProfile couch;
  ImagerProfile imager;
  InterlockProfile interlocks;

  /// Whether a plan's treatment machine name is this machine: its name or one of its aliases.
  [[nodiscard]] bool answers_to(const std::string& name) const {
    if (name == machine_name) return true;
    for (const auto& a : machine_aliases) {
      if (name == a) return true;
    }
    return false;
  }
};

/// Parses and validates a profile given as JSON text. Throws InputError naming `where`, the field
/// and the limit when a value is missing, out of range or contradicts another.
MachineProfile machine_profile_from_json(const std::string& json, const std::string& where);
MachineProfile load_machine_profile(const std::filesystem::path& path);
std::string machine_profile_to_json(const MachineProfile& profile);
/// The checks load_machine_profile applies.
void validate_machine_profile(const MachineProfile& profile, const std::string& where);

/// Folder of the profiles shipped with the product (the source tree's machines/ unless
/// LINAC_MACHINES_DIR is set), and the default profile in it.
std::filesystem::path machines_dir();
MachineProfile default_machine_profile();

}  // namespace linac
