#pragma once
// The 6 MV photon beam model of the dose engine: a pencil-beam (fluence convolution) model with
// three Gaussian lateral kernels and depth functions in radiological depth.
//
// Dose per MU at a point with radiological depth z (mm), distance r from the source along the
// beam axis (mm) and convolved fluences C_x at its projection onto the isocentre plane:
//
//   D = K (SAD / r)^2 P(z) [ (1 - w_h) C_p + w_h C_h + s(z) C_s ]
//   P(z) = (1 - exp(-beta z)) exp(-mu z)          primary: build-up and attenuation
//   s(z) = s_1 (1 - exp(-z / lambda))             phantom scatter-to-primary ratio
//   C_p = F * G(sigma_p)                          primary penumbra (source size, electrons)
//   C_h = F * G(sqrt(sigma_h^2 + sigma_p^2))      head scatter (flattening filter, extra-focal)
//   C_s = F * G(sigma_s)                          phantom scatter
//
// F is the fluence at the isocentre plane: 1 in the aperture (leaf ends widened by half the
// dosimetric leaf gap each), the MLC transmission under leaves, the jaw transmission outside the
// jaws. K makes 10 x 10 cm^2 at SSD = SAD give the calibration dose per MU at its maximum.
// The parameters live in the machine's beam data file (machines/clinac-ix-6mv.json) with the
// HU to relative electron density table and the commissioning targets they were fitted to.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace linac::planning {

struct BeamModelParameters {
  double attenuation_per_mm = 0.0047;
  double buildup_per_mm = 0.3;
  double scatter_amplitude = 0.3;
  double scatter_buildup_mm = 60.0;
  double scatter_sigma_mm = 40.0;
  double primary_sigma_mm = 2.2;
  double head_scatter_fraction = 0.08;
  double head_scatter_sigma_mm = 25.0;
};

/// Published figures the model is fitted to (MACHINE.md): water, SSD = SAD.
struct CommissioningTargets {
  double dmax_mm = 15.0;
  std::vector<std::pair<double, double>> pdd_pct;         // depth mm, PDD % (10 x 10)
  std::vector<std::pair<double, double>> output_factors;  // square side mm, factor
  double penumbra_80_20_mm = 4.0;                         // 10 x 10 at penumbra_depth_mm
  double penumbra_depth_mm = 100.0;
};

/// What the model gives in water at SSD = SAD (analytic, no voxels).
struct WaterFigures {
  double dmax_mm = 0.0;
  std::vector<std::pair<double, double>> pdd_pct;         // at the targets' depths
  std::vector<std::pair<double, double>> output_factors;  // at the targets' sizes
  double penumbra_80_20_mm = 0.0;
};

class BeamModel {
 public:
  std::string machine_name;
  double energy_mv = 6.0;
  double sad_mm = 1000.0;
  double calibration_gy_per_mu = 0.01;
  double mlc_transmission = 0.015;
  double dosimetric_leaf_gap_mm = 1.7;
  double jaw_transmission = 0.0;
  BeamModelParameters p;
  std::vector<std::pair<double, double>> hu_to_red;  // increasing HU, relative electron density
  CommissioningTargets targets;

  /// Recomputes the calibration constant K; call after changing the parameters.
  void calibrate();
  [[nodiscard]] double k() const { return k_; }

  [[nodiscard]] double relative_electron_density(double hu) const;
  [[nodiscard]] double primary_depth(double z_mm) const;
  [[nodiscard]] double scatter_ratio(double z_mm) const;
  [[nodiscard]] double head_sigma_mm() const;
  /// Dose per MU (Gy) from convolved fluences at radiological depth z and source distance r.
  [[nodiscard]] double dose_per_mu(double z_mm, double r_mm, double c_p, double c_h,
                                   double c_s) const;

  /// Analytic dose per MU in water at SSD on the axis of an X x Y field (mm at the isocentre
  /// plane), at depth z and lateral offset (x, y) at that depth.
  [[nodiscard]] double water_dose_per_mu(double ssd_mm, double field_x_mm, double field_y_mm,
                                         double z_mm, double x_mm = 0.0, double y_mm = 0.0) const;
  [[nodiscard]] WaterFigures water_figures() const;

 private:
  double k_ = 1.0;
};

/// Reads a beam data file; throws InputError naming the file and the field.
BeamModel load_beam_model(const std::filesystem::path& path, double sad_mm,
                          double calibration_cgy_per_mu, double mlc_transmission,
                          double dosimetric_leaf_gap_mm);
/// The beam data shipped for the default machine (machines_dir()/clinac-ix-6mv.json) with the
/// default profile's geometry, calibration and MLC figures.
BeamModel default_beam_model();
/// The file's JSON with `model`'s parameters.
std::string beam_model_to_json(const BeamModel& model);

/// Fits the parameters to the targets (NLopt BOBYQA on squared residuals scaled by 0.5 mm,
/// 0.3 % PDD, 0.005 in output factor, 0.2 mm penumbra). Returns the fitted model.
struct CommissioningResult {
  BeamModel model;
  WaterFigures figures;
  double cost = 0.0;
  int evaluations = 0;
};
CommissioningResult commission_beam_model(const BeamModel& start);

}  // namespace linac::planning
