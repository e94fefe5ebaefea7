#pragma once
// The built-in patient: a deterministic digital abdomen modelled on the reference case (adult
// male, liver 3,593 cm³ with diffuse metastases replacing about half of the parenchyma).
// DICOM patient coordinates (LPS, head-first supine): +x patient left, +y posterior,
// +z superior; the origin lies near the centre of the liver region.
#include <cstdint>

#include "linac/core/case.hpp"

namespace linac::sim {

inline constexpr std::uint64_t kDefaultPatientSeed = 3593;

struct PhantomOptions {
  std::uint64_t seed = kDefaultPatientSeed;
  double spacing_mm = 2.5;           // isotropic voxel size; coarser grids for quick runs
  double liver_volume_cm3 = 3593.0;  // whole liver, metastases included
  double metastasis_fraction = 0.5;  // share of the liver volume replaced by metastases
  /// Functioning parenchyma free of disease: this share of the liver, in so many regions deep in
  /// it (the rest of the liver bears the metastases; 0: metastases anywhere).
  double functional_fraction = 0.3;
  int functional_regions = 4;
  double noise_hu = 10.0;  // CT quantum noise (standard deviation)
};

/// Builds the case: CT in HU and masks for body, liver, GTV (metastases), kidneys, stomach,
/// duodenum, bowel, spinal cord, heart and lung bases. The same options give the same case.
Case make_builtin_patient(const PhantomOptions& options = {});

}  // namespace linac::sim
