#pragma once
// Per-fraction IGRT set-up through the HAL: acquire a cone-beam CT on the kV imager while the
// gantry turns, reconstruct it (FDK), register it to the planning AIP with the core engine, turn
// the registration into a couch correction in IEC 61217 patient-support coordinates, decide
// (apply, re-image or stop) against the profile's limits, move the couch and verify it arrived.
// A correction beyond the couch's limits is reported as it is, never clipped.
#include <functional>
#include <optional>
#include <string>

#include "linac/core/case.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/registration.hpp"
#include "linac/hal/machine.hpp"
#include "linac/igrt/fdk.hpp"

namespace linac::igrt {

struct CouchCorrection {
  Eigen::Vector3d translation_mm = Eigen::Vector3d::Zero();  // lateral, longitudinal, vertical
  double rotation_deg = 0.0;
  double pitch_deg = 0.0;
  double roll_deg = 0.0;
};

/// The couch pose that puts the patient back where planned, from the registration's
/// reference (planning) -> CBCT transform, for an acquisition at `couch`.
hal::CouchPose corrected_couch(const RigidTransform& reference_to_cbct,
                               iec::PatientPosition position, const hal::CouchPose& couch);
CouchCorrection difference(const hal::CouchPose& to, const hal::CouchPose& from);

/// The region of the planning CT a registration matches, as an OBI auto-match offers:
/// "bone" — voxels of at least 250 HU inside the body, expanded by 5 mm (the skeleton and its
/// edges); "soft-tissue" — the liver (or, without one, the case's first target) expanded by 10 mm,
/// inside the body; "body" — the body (the structure of role "external", or named "body").
/// Throws InputError naming the preset when it is unknown or the case lacks what it needs.
Mask registration_region(const Case& c, const std::string& preset);

/// Why a registration's result must not move the couch (SAFETY.md: registration fails or the
/// images do not overlap: no couch move, re-image), or "" when it may: the optimiser stopped
/// at its evaluation limit, a parameter ended on its search bound (the images did not match
/// within the search range, as unrelated images do), less than `min_overlap` of the
/// reference's samples fell inside the day's image, or the two images' intensities correlate
/// below `min_correlation` at the result (kV CT and CBCT of the same anatomy correlate at about
/// 0.85 within the body; unrelated images below 0.4, wherever the optimiser stopped).
std::string registration_refusal(const RegistrationResult& r, double min_overlap = 0.5,
                                 double min_correlation = 0.5);

struct SetupOptions {
  iec::PatientPosition position = iec::PatientPosition::kHFS;
  int projections = 180;  // over a 360-degree half-fan scan
  int binning = 8;
  double photons_per_pixel = 0;  // quantum noise of the acquisition (0: none)
  /// Take the imager profile's scatter kernel off the projections (FdkOptions::scatter_fraction).
  bool scatter_correction = true;
  /// The CBCT's voxels: 2.9 mm, not 3, so that its grid does not run in step with a planning
  /// CT's of 3 mm (nor beats with 2 or 2.5 mm ones within 58-73 mm): on grids in step, the
  /// registration's interpolation blur varies with a translation's fraction of a voxel, and pure
  /// sub-voxel set-up errors came back up to 0.22 mm off (0.14 mm at 2.9; ADR 0004).
  double voxel_mm = 2.9;
  double slice_mm = 2.9;
  int dof = 6;
  RegistrationMetric metric = RegistrationMetric::kMeanSquares;
  double high_pass_mm = kCbctHighPassMm;  // RegistrationOptions::high_pass_mm
  int max_evaluations_per_level = 600;
  double apply_threshold_mm = 0.0;  // corrections smaller than this are not applied
  double motion_timeout_s = 120.0;
  std::function<void(const std::string&)> progress;
};

struct SetupResult {
  FdkResult cbct;
  RegistrationResult registration;
  hal::CouchPose couch_before;
  hal::CouchPose couch_target;
  hal::CouchPose couch_after;
  CouchCorrection correction;  // target - before
  std::string decision;        // "apply", "reimage" or "stop"
  std::string reason;          // why, when not "apply"
  bool couch_moved = false;
  double acquire_s = 0.0;  // machine time of the scan
  double recon_s = 0.0;    // wall time
  double register_s = 0.0;
};

/// Runs the set-up on `machine` (brought up) against `reference` (planning AIP, patient
/// coordinates with the isocentre at the origin). `roi` (on the reference's grid) limits the
/// registration, e.g. liver and PTV with a margin. Throws InputError for a reference or ROI
/// that cannot be used; faults of the devices end in decision "stop" with the reason.
SetupResult run_setup(hal::Machine& machine, const MachineProfile& profile,
                      const ImageHU& reference, const Mask* roi, const SetupOptions& options);

}  // namespace linac::igrt
