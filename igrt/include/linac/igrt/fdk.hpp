#pragma once
// Cone-beam CT reconstruction (Feldkamp-Davis-Kress) from the kV imager's projections on a
// circular orbit: cosine pre-weighting, redundancy weighting for an offset (half-fan) detector
// or Parker weights for a short scan, ramp filtering with apodisation (OpenCV's DFT) and
// voxel-driven back-projection with distance weighting; HU from the imager's water calibration.
#include <vector>

#include "linac/core/iec61217.hpp"
#include "linac/core/volume.hpp"
#include "linac/hal/devices.hpp"

namespace linac::igrt {

enum class RampWindow { kRamLak, kSheppLogan, kHann };

struct FdkOptions {
  /// Reconstruction grid in DICOM patient coordinates (isocentre at the origin).
  Grid grid;
  iec::PatientPosition position = iec::PatientPosition::kHFS;
  iec::CouchState couch;  // the couch during the acquisition
  RampWindow window = RampWindow::kHann;
  /// Linear attenuation of water (1/mm) at the beam's effective energy, from the imager's
  /// calibration with a water phantom: HU = 1000 (mu / mu_water - 1).
  double mu_water_per_mm = 0.0206;
  /// Continue rows cut off by a panel narrower than the patient as a water cylinder's chords
  /// before the ramp filter (truncation correction): a truncated water cylinder's centre comes
  /// back from +129 to +1 HU, and a 20 mm / 3 degree set-up error registers 0.46 mm off instead
  /// of 0.56 mm. (A mirrored continuation was tried first: it overshot to -120 HU, and the
  /// anatomy it invented outside the field of view dragged that registration to 1.14 mm.)
  bool truncation_correction = true;
  /// Scatter correction before the logarithm, with the imager's scatter kernel: the panel
  /// measures T = P + scatter_fraction * G * (1 - P) (transmissions; G a normalised Gaussian of
  /// scatter_sigma_mm at the panel, the part of the beam that interacted spread as scatter),
  /// and the primary P is recovered by fixed-point iteration (each step shrinks the error by
  /// scatter_fraction) and floored at kScatterFloor of T. A real imager's kernel is
  /// commissioned from a water phantom's cupping; `MachineProfile::imager` holds it
  /// (scatter_scale, scatter_blur_mm). 0: no correction.
  double scatter_fraction = 0.0;
  double scatter_sigma_mm = 60.0;
};

/// The scatter estimate never takes more than this share of a pixel's measured signal.
inline constexpr double kScatterFloor = 0.05;

struct FdkResult {
  ImageHU image;
  /// The voxels every projection measured (on the image's grid): their rays meet the panel's
  /// rows in every view. Beyond it, towards the grid's first and last slices away from the
  /// rotation axis, a cone beam misses some views and those voxels come out too dark; a
  /// registration should leave them out (RegistrationOptions::moving_mask).
  Mask measured;
  int projections = 0;
  double arc_deg = 0.0;
  bool half_fan = false;
  bool short_scan = false;
  double seconds = 0.0;               // the whole reconstruction, of which:
  double filter_seconds = 0.0;        //   weighting and ramp-filtering the projections
  double back_project_seconds = 0.0;  //   the back-projection
};

/// A grid of voxel_mm covering the field of view of the projections' geometry (cylinder of the
/// detector's reach at the isocentre), centred on the isocentre, in patient coordinates.
Grid cbct_grid(const hal::KvProjection& geometry, double voxel_mm, double slice_mm);

/// The primary line integrals of one projection: `p.line_integral` with the scatter of the
/// kernel above taken off (FdkOptions::scatter_fraction, scatter_sigma_mm). Throws InputError for
/// a negative fraction or a kernel width that is not positive.
std::vector<float> scatter_corrected(const hal::KvProjection& p, double scatter_fraction,
                                     double scatter_sigma_mm);

/// Throws InputError for no projections, projections of different geometry, or an arc too short
/// for the detector (under 180 degrees plus the fan; a half-fan scan needs 360 degrees).
FdkResult reconstruct_fdk(const std::vector<hal::KvProjection>& projections,
                          const FdkOptions& options);

}  // namespace linac::igrt
