#pragma once
// A case as DICOM, for other systems (a planning system, plastimatch, pydicom): the CT as a
// series of axial CT Image slices (HU as signed 16-bit pixels, rescale slope 1, intercept 0) and
// its structures as one RT Structure Set whose contours trace each mask's pixels exactly, all in
// one study and one frame of reference. DCMTK writes every file (explicit VR little endian).
#include <filesystem>
#include <string>
#include <vector>

#include "linac/formats/case_folder.hpp"

namespace linac::formats {

/// The identifiers other objects of the same patient refer to (an RT Plan to the structure set,
/// an RT Dose to the frame of reference).
struct DicomCaseIds {
  std::string patient_id;
  std::string patient_name;  // DICOM PN, may be empty
  std::string study_instance_uid;
  std::string frame_of_reference_uid;
  std::string ct_series_instance_uid;
  std::string structure_set_sop_instance_uid;
};

struct DicomCaseFiles {
  DicomCaseIds ids;
  std::vector<std::filesystem::path> ct_slices;  // CT.<n>.dcm, inferior to superior
  std::filesystem::path structure_set;           // RS.<label>.dcm
  int contours = 0;                              // closed planar contours written, all ROIs
};

/// Writes `c` into `dir` (created). The UIDs are made here unless `ids` gives them (an empty
/// field is generated); `ids.patient_id` empty takes the case's name. The CT grid's axes may be
/// any orthonormal directions (ImageOrientationPatient from its first two). Throws InputError
/// naming the case when it has no CT, a structure on another grid, or HU outside 16 bits.
DicomCaseFiles write_dicom_case(const Case& c, const std::filesystem::path& dir,
                                DicomCaseIds ids = {});

/// The closed contours (mm, patient coordinates) of slice `k` of `mask`: outer boundaries and
/// holes alike (even-odd rule), each traced a quarter voxel inside the boundary between mask and
/// background, so that a rasteriser testing voxel centres against them gives `mask` back.
std::vector<std::vector<Eigen::Vector3d>> mask_slice_contours(const Mask& mask, std::int64_t k);

}  // namespace linac::formats
