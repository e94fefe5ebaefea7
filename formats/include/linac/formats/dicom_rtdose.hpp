#pragma once
// DICOM RT Dose (DCMTK): a dose volume in Gy as a multi-frame RT Dose of 16-bit unsigned
// pixels with a dose grid scaling, axial frames, explicit VR little endian; 16- and 32-bit read.
#include <filesystem>
#include <string>

#include "linac/core/volume.hpp"

namespace linac {

struct RtDoseInfo {
  std::string patient_id;
  std::string patient_name;  // DICOM PN; empty when unknown
  std::string plan_label;
  std::string summation = "PLAN";  // DoseSummationType
  // What the dose belongs with (each empty: a new one / none): the study and frame of reference
  // of the CT it was computed on, and the RT Plan it is the dose of.
  std::string study_instance_uid;
  std::string frame_of_reference_uid;
  std::string referenced_plan_sop_instance_uid;
};

/// Writes `dose_gy` (axis-aligned grid) as RT Dose. Throws std::invalid_argument without the
/// referenced plan (the standard requires it of a plan's dose), std::runtime_error when it cannot.
void write_dicom_rtdose(const std::filesystem::path& path, const Volume<float>& dose_gy,
                        const RtDoseInfo& info);
/// Reads an RT Dose written by us or another system (axial, uniform frame offsets) into Gy.
/// Throws InputError naming the file and the attribute.
Volume<float> read_dicom_rtdose(const std::filesystem::path& path);

}  // namespace linac
