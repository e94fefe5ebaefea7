#pragma once
// Rigid (6 or 3 degrees of freedom) intensity-based registration of two images in DICOM patient
// coordinates: multi-resolution, metrics for same-modality CT (mean squares, normalised cross-
// correlation) and for different contrast (Mattes mutual information), fixed and moving masks,
// NLopt's BOBYQA (bound-constrained, derivative-free) as the optimiser, metric evaluation
// multi-threaded (OpenMP). Used by planning (SPECT/CT fusion) and IGRT (CBCT to AIP).
#include <cstdint>
#include <string>
#include <vector>

#include "linac/core/transform.hpp"
#include "linac/core/volume.hpp"

namespace linac {

enum class RegistrationMetric {
  kMeanSquares,
  kNormalizedCrossCorrelation,
  kMattesMutualInformation
};
std::string to_string(RegistrationMetric m);
/// "mean_squares", "ncc", "mattes_mi"; throws InputError otherwise.
RegistrationMetric parse_registration_metric(const std::string& name);

/// The high pass IGRT uses for a CBCT against a CT (RegistrationOptions::high_pass_mm), mm.
inline constexpr double kCbctHighPassMm = 5.0;

struct RegistrationOptions {
  RegistrationMetric metric = RegistrationMetric::kMeanSquares;
  int dof = 6;  // 6: rotations and translations; 3: translations
  std::vector<double> pyramid_mm = {8.0, 4.0, 0.0};  // voxel size per level (0: the fixed image's)
  /// Fixed-image sample points on each coarse level (they find the basin: an 8 mm level of a
  /// body has about 40,000 voxels), and on the finest (it sets the accuracy). On 15 CBCTs with
  /// quantum noise, 60,000 on every level gave a mean error of 0.133 mm; these give 0.109 mm in
  /// the same time (ADR 0004).
  int samples = 30000;
  int finest_samples = 200000;
  int histogram_bins = 32;              // Mattes mutual information
  double search_translation_mm = 80.0;  // bounds around the initial transform
  double search_rotation_deg = 12.0;
  int max_evaluations_per_level = 600;
  double tolerance_mm = 0.005;        // stop when steps are this small (and 0.005 deg)
  double min_overlap = 0.25;          // of the fixed samples, inside the moving image
  const Mask* fixed_mask = nullptr;   // on the fixed image's grid
  const Mask* moving_mask = nullptr;  // on the moving image's grid
  RigidTransform initial;             // fixed -> moving, where the search starts
  std::uint64_t seed = 1;
  /// Mean squares and NCC: on the pyramid levels whose voxel is finer than this (mm), both
  /// images lose their background, a Gaussian of this sigma, before they are compared: a
  /// CBCT's cupping and scatter (smooth over tens of millimetres) then no longer bias the match.
  /// The coarser levels, which must find large set-up errors, keep the whole image. 0: off (the
  /// default: on two CTs it only adds noise; IGRT sets kCbctHighPassMm).
  double high_pass_mm = 0.0;
};

struct RegistrationLevel {
  double voxel_mm = 0.0;
  int samples = 0;  // fixed-image sample points drawn (the option, or every candidate if fewer)
  int evaluations = 0;
  double metric = 0.0;
  double prepare_seconds = 0.0;   // smoothing, resampling and sampling the images
  double optimise_seconds = 0.0;  // the optimiser's evaluations of the metric
};

struct RegistrationResult {
  /// Maps a point of the fixed image's frame to the moving image's frame: resample the moving
  /// image with it (resample(moving, fixed.grid(), ..., fixed_to_moving)) to bring it onto the
  /// fixed image.
  RigidTransform fixed_to_moving;
  Eigen::Vector3d centre_mm = Eigen::Vector3d::Zero();     // rotations are about this point
  Eigen::Vector3d rotation_deg = Eigen::Vector3d::Zero();  // about the centre (from_euler_deg)
  Eigen::Vector3d translation_mm = Eigen::Vector3d::Zero();
  double metric = 0.0;   // final value (lower is better; NCC and MI negated)
  double overlap = 0.0;  // share of fixed samples inside the moving image at the end
  /// Pearson correlation of the fixed and the resampled moving intensities at the result (on
  /// the last level's samples): near 1 for the same anatomy in the same contrast, whatever the
  /// metric; a same-modality match far below it did not find the anatomy.
  double correlation = 0.0;
  int evaluations = 0;
  bool converged = false;        // the optimiser met its tolerance (not its evaluation limit)
  bool at_search_bound = false;  // a parameter ended on its bound
  double seconds = 0.0;
  std::vector<RegistrationLevel> levels;
};

/// Registers `moving` to `fixed`. Throws InputError when the images (or masks) do not overlap,
/// a mask is empty or on the wrong grid, or an option is out of range.
RegistrationResult register_rigid(const Volume<float>& fixed, const Volume<float>& moving,
                                  const RegistrationOptions& options = {});

/// Separable Gaussian smoothing with standard deviation sigma_mm (per axis in voxels from the
/// grid's spacing), edges clamped. Multi-threaded.
Volume<float> gaussian_smooth(const Volume<float>& image, double sigma_mm);
/// The same with one standard deviation per axis (mm; 0 leaves that axis alone).
Volume<float> gaussian_smooth(const Volume<float>& image, const Eigen::Vector3d& sigma_mm);

template <typename T>
Volume<float> to_float(const Volume<T>& v) {
  return v.template map<float>([](T x) { return static_cast<float>(x); });
}

}  // namespace linac
