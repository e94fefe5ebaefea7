#pragma once
// DICOM RT Plan import (DCMTK): beams, control points with gantry angle and rotation direction,
// collimator, cumulative meterset weight, MLCX leaf positions and boundaries, jaws (X/ASYMX,
// Y/ASYMY), nominal energy, dose rate, beam meterset from the fraction group, fractions and the
// target prescription dose. Values a control point omits are inherited from the one before, as
// the standard allows. Jaw-only beams get their leaves opened to the jaws.
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/plan.hpp"

namespace linac {

struct DicomPlanImport {
  Plan plan;
  std::vector<std::string> notes;  // what the import assumed, one line each
};

/// Throws InputError naming the file, the beam, the control point and the attribute when the
/// file is unreadable, truncated, not an RT Plan, or lacks what delivery needs.
DicomPlanImport read_dicom_rtplan(const std::filesystem::path& path,
                                  int leaf_pairs = kMillennium120LeafPairs);

/// The objects an RT Plan belongs with: the patient's name, the study, and the RT Structure Set
/// its geometry is defined on. Without a structure set the plan's geometry is TREATMENT_DEVICE
/// (the standard's term for a plan with no structure set), with one it is PATIENT and refers to it.
struct DicomPlanReferences {
  std::string patient_name;                    // DICOM PN; empty when unknown
  std::string study_instance_uid;              // empty: a new study
  std::string structure_set_sop_instance_uid;  // empty: no structure set
};

/// Writes `plan` as a DICOM RT Plan (explicit VR little endian) with MLCX and the profile's leaf
/// boundaries (or the beam's own), ASYMX/ASYMY jaws, dose references and one fraction group.
/// Every control point states every value. Returns the plan's SOP Instance UID (an RT Dose
/// refers to it). Throws std::runtime_error when it cannot write.
std::string write_dicom_rtplan(const std::filesystem::path& path, const Plan& plan,
                               const std::vector<double>& leaf_boundaries_mm,
                               const DicomPlanReferences& references = {});

}  // namespace linac
