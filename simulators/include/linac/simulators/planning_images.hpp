#pragma once
// The imaging half of the patient simulator: from a case (the built-in patient or any case with
// a body and a liver) a 10-phase 4DCT with the liver and its neighbours breathing, and a
// 99mTc-GSA SPECT/CT from "another scanner": SPECT whose uptake follows the functioning liver
// (metastases cold), blurred to SPECT resolution with counting noise, and its low-dose CT, both
// at a known rigid offset from the planning frame. Deterministic for a seed; the truth is kept.
#include <cstdint>
#include <string>
#include <vector>

#include "linac/core/case.hpp"
#include "linac/core/transform.hpp"

namespace linac::sim {

struct BreathingOptions {
  int phases = 10;
  double amplitude_si_mm = 10.0;  // peak to peak, cranio-caudal, at the diaphragm
  double amplitude_ap_mm = 3.0;   // peak to peak, antero-posterior
  double falloff_mm = 120.0;      // below the liver, the motion fades over this distance
};

struct FourDct {
  std::vector<ImageHU> phases;      // phase 0 = end-inhale (liver lowest), N/2 = end-exhale
  std::vector<Mask> liver;          // the liver in each phase
  std::vector<Mask> gtv;            // the metastases in each phase (empty when the case has none)
  std::vector<double> si_shift_mm;  // liver dome displacement per phase (+ superior)
  BreathingOptions options;
};

/// Breathing phases of the case's CT. The body outline and the bones stay still; soft tissue
/// inside the body moves with a displacement that is largest at the liver dome.
FourDct make_4dct(const Case& c, const BreathingOptions& options = {});

struct SpectCtOptions {
  std::uint64_t seed = 7;
  double spect_voxel_mm = 4.42;
  double fwhm_mm = 13.0;       // system resolution
  double peak_counts = 400.0;  // expected counts in the hottest voxel (Poisson noise)
  double ct_voxel_mm = 3.0;    // low-dose CT: in-plane
  double ct_slice_mm = 5.0;
  double ct_noise_hu = 35.0;
  /// Maps SPECT/CT scanner coordinates to planning coordinates (the other scanner's set-up).
  Eigen::Vector3d rotation_deg{1.5, -1.0, 2.5};
  Eigen::Vector3d translation_mm{14.0, -9.5, 21.0};
  double functional_gradient = 0.15;  // uptake varies by +-this share across the liver
  /// Parenchyma near metastases takes up less (diffuse disease): its uptake recovers with the
  /// distance d from the nearest metastasis as 1 - exp(-d / this); 0: uniform uptake.
  double peritumoral_impairment_mm = 6.0;
};

struct SpectCt {
  Volume<float> spect;    // counts, on the SPECT grid, in the SPECT/CT frame
  ImageHU ct;             // low-dose CT, on its own grid, in the SPECT/CT frame
  Mask functional_truth;  // on the planning grid: functioning parenchyma with its uptake > 0
  RigidTransform spect_ct_to_planning;
};

/// A SPECT/CT of the case taken at the mid-ventilation phase of `fourdct` (or of the case's CT
/// when `fourdct` has no phases), with the liver's function from its parenchyma minus the GTV.
SpectCt make_spect_ct(const Case& c, const FourDct& fourdct, const SpectCtOptions& options = {});

}  // namespace linac::sim
