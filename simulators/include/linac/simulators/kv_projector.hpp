#pragma once
// Ray-driven forward projection for the simulated kV imager: line integrals of the linear
// attenuation coefficient through the patient, in the On-Board Imager geometry of the profile.
#include "linac/core/case.hpp"
#include "linac/core/iec61217.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/random.hpp"
#include "linac/core/volume.hpp"
#include "linac/hal/devices.hpp"

namespace linac::sim {

/// Linear attenuation of water (1/mm) at the effective energy of a kV beam (about 0.48 x kVp
/// keV for the OBI's filtration), interpolated in NIST XCOM values: 0.0206/mm at 125 kVp.
double mu_water_per_mm(double kvp);

/// Linear attenuation (1/mm) from CT numbers at the kV beam's energy (bilinear calibration):
/// soft tissue mu = mu_water (1 + HU/1000); above 0 HU the photoelectric effect of bone's
/// calcium raises the slope by a factor that grows as the energy falls (1.18 at 60 keV).
/// Never negative.
Volume<float> attenuation_from_hu(const ImageHU& ct, double kvp = 125.0);

/// What the kV imager sees of a case on the couch: its CT as attenuation with the treatment
/// isocentre (treatment_isocentre_mm) at the origin, the anatomy moved by `setup_error` (a planned
/// point p lies at setup_error(p)): the day's set-up error in DICOM patient coordinates. The
/// voxels are the CT's; the error moves the grid (its origin and, with a rotation, its
/// direction), so that the subject is not blurred by a resampling.
Volume<float> imaging_subject(const Case& c, const RigidTransform& setup_error = {});

/// Projects `mu_per_mm` (DICOM patient coordinates, isocentre at the origin) placed in the room
/// by `patient_to_fixed`, at gantry angle `gantry_deg`. Each ray is marched in steps of half the
/// finest voxel spacing with trilinear sampling; multi-threaded over panel rows. With `noise`
/// and request.photons_per_pixel > 0, quantum (Poisson) noise is added.
hal::KvProjection project_kv(const Volume<float>& mu_per_mm, const RigidTransform& patient_to_fixed,
                             const ImagerProfile& imager, double gantry_deg,
                             const hal::KvRequest& request, Rng* noise = nullptr);

}  // namespace linac::sim
