#pragma once
// The 6 MV photon beam model of the dose engine: a pencil-beam (fluence convolution) model with
// Gaussian lateral kernels, depth functions in radiological depth, electron contamination and a
// density-scaled kernel for the lateral transport of secondary electrons (docs/adr/0008).
//
// Dose per MU at a point with radiological depth z (mm), distance r from the source along the
// beam axis (mm), off-axis distance rho at the isocentre plane (mm), effective density rho_e
// (upstream-weighted relative electron density) and convolved fluences C_x at its projection:
//
//   D = K (SAD / r)^2 { P(z) [ H(rho, z) Phi + s_1(z) C_s1 + s_2(z) C_s2 ] + c(z) C_c }
//   Phi    = (1 - w_h) [ (1 - f_e) C_p + f_e C_e(sigma_e / rho_e) ] + w_h C_h
//   P(z)   = (1 - (1 - p_0) exp(-beta z)) exp(-mu z)     primary: surface, build-up, attenuation
//   s_k(z) = a_k (1 - exp(-z / lambda_k)) exp(-nu_k z)     phantom scatter, a short and a long
//   kernel c(z)   = a_c exp(-z / lambda_c)                       electron contamination H      = 1
//   + h (rho / 150 mm)^2 exp(-z / lambda_h)   the flattening filter's horns C_x    = F * G(sigma_x)
//   fluence blurred by a Gaussian
//
// F is the fluence at the isocentre plane: 1 in the aperture (leaf ends widened by half the
// dosimetric leaf gap each), the MLC transmission under leaves, the jaw transmission outside the
// jaws. C_e's width grows as the density falls (secondary electrons travel farther in lung): the
// loss of lateral electronic equilibrium of small fields in lung, and the build-down and
// re-build-up at interfaces through rho_e. K makes 10 x 10 cm^2 at SSD = SAD give the
// calibration dose per MU at its maximum. The parameters live in the machine's beam model file
// (machines/clinac-ix-6mv.json), fitted by `linac dose commission` to a beam data set
// (beam_data.hpp).
#include <array>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace linac::planning {

struct ScatterKernel {
  double amplitude = 0.2;     // a_k, scatter-to-primary ratio scale
  double buildup_mm = 50.0;   // lambda_k
  double slope_per_mm = 0.0;  // nu_k
  double sigma_mm = 20.0;     // lateral width at the isocentre plane
};

struct BeamModelParameters {
  double attenuation_per_mm = 0.0045;  // mu
  double buildup_per_mm = 0.3;         // beta
  double surface_fraction = 0.05;      // p_0
  double primary_sigma_mm = 1.0;       // source size
  double electron_sigma_mm = 3.0;      // sigma_e in water, in the patient at the point
  double electron_fraction = 0.4;      // f_e
  double head_scatter_fraction = 0.08;
  double head_scatter_sigma_mm = 25.0;
  std::array<ScatterKernel, 2> scatter{
      // widths in the patient at the point (mm)ScatterKernel{0.15, 30.0, 0.0, 15.0},
      ScatterKernel{0.3, 80.0, 0.0, 80.0}};
  double contamination_amplitude = 0.2;
  double contamination_depth_mm = 3.0;
  double contamination_sigma_mm = 100.0;
  double horn = 0.05;            // h: relative excess 150 mm off axis at the surface
  double horn_depth_mm = 150.0;  // lambda_h
  /// Radiological length (mm) over which the effective density follows the density along the
  /// ray (an exponential average of 1 / density: the electrons' path per unit of radiological
  /// depth): the build-down in lung and the re-build-up beyond it. Not fitted (water data
  /// cannot show it); of the order of the mean range of 6 MV secondary electrons.
  double electron_memory_mm = 4.0;
};

/// The convolved fluences at one point (dimensionless, 1 on the axis of a large open field).
struct ConvolvedFluence {
  double primary = 0.0;   // C_p
  double electron = 0.0;  // C_e at the point's effective density
  double head = 0.0;      // C_h
  std::array<double, 2> scatter{0.0, 0.0};
  double contamination = 0.0;  // C_c
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
  std::string beam_data;  // the data set the parameters were fitted to (file name)

  /// Recomputes the calibration constant K; call after changing the parameters.
  void calibrate();
  [[nodiscard]] double k() const { return k_; }

  [[nodiscard]] double relative_electron_density(double hu) const;
  [[nodiscard]] double primary_depth(double z_mm) const;
  [[nodiscard]] double scatter_ratio(int kernel, double z_mm) const;
  [[nodiscard]] double contamination(double z_mm) const;
  [[nodiscard]] double horn_factor(double offaxis_mm, double z_mm) const;
  [[nodiscard]] double head_sigma_mm() const;
  /// Widths of the kernels at the isocentre plane (mm). The source-side kernels (primary, head
  /// scatter, contamination) are projective: the same at every distance. The phantom's kernels
  /// (scatter, secondary electrons) have their width in the patient at the point, so their
  /// width at the isocentre plane is scaled by SAD / r; the electrons' also by 1 / density.
  [[nodiscard]] std::array<double, 3> source_sigmas_mm() const;
  [[nodiscard]] double scatter_sigma_at(int kernel, double r_mm) const;
  [[nodiscard]] double electron_sigma_at(double density, double r_mm) const;
  /// Dose per MU (Gy) at radiological depth z, source distance r, off-axis distance rho.
  [[nodiscard]] double dose_per_mu(double z_mm, double r_mm, double offaxis_mm,
                                   const ConvolvedFluence& c) const;

  /// Analytic dose per MU in water at SSD on the axis of an X x Y field (mm at the isocentre
  /// plane), at depth z and lateral offset (x, y) at that depth.
  [[nodiscard]] double water_dose_per_mu(double ssd_mm, double field_x_mm, double field_y_mm,
                                         double z_mm, double x_mm = 0.0, double y_mm = 0.0) const;

 private:
  double k_ = 1.0;
};

/// Reads a beam model file; throws InputError naming the file and the field.
BeamModel load_beam_model(const std::filesystem::path& path, double sad_mm,
                          double calibration_cgy_per_mu, double mlc_transmission,
                          double dosimetric_leaf_gap_mm);
/// The beam model shipped for the default machine (machines_dir()/clinac-ix-6mv.json) with the
/// default profile's geometry, calibration and MLC figures.
BeamModel default_beam_model();
/// The file's JSON with `model`'s parameters.
std::string beam_model_to_json(const BeamModel& model);

/// The parameters as a vector (the fit's variables), their bounds and names.
std::vector<double> parameter_vector(const BeamModelParameters& p);
BeamModelParameters parameters_from(const std::vector<double>& x);
std::vector<std::string> parameter_names();
std::pair<std::vector<double>, std::vector<double>> parameter_bounds();

}  // namespace linac::planning
