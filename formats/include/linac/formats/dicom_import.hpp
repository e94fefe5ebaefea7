#pragma once
// A patient from DICOM: what a folder holds (studies, series, objects), a CT series as a volume
// in HU, and an RT Structure Set's contours as masks on that CT's grid (even-odd rule: holes and
// several contours per slice). DCMTK reads every file. Errors name the file and the attribute.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "linac/formats/case_folder.hpp"

namespace linac::formats {

/// One DICOM file's identity.
struct DicomObject {
  std::filesystem::path file;
  std::string modality;  // CT, RTSTRUCT, RTPLAN, RTDOSE, NM, ...
  std::string sop_instance_uid;
  std::string series_instance_uid;
  std::string study_instance_uid;
  std::string frame_of_reference_uid;
  std::string patient_id;
  std::string series_description;
};

struct DicomFolder {
  std::vector<DicomObject> objects;  // every DICOM file under the folder, in path order
  std::vector<std::string> skipped;  // "file: why" for the files that are not DICOM
};

/// Every DICOM file under `dir` (recursively). Throws InputError when `dir` is not a folder.
DicomFolder scan_dicom_folder(const std::filesystem::path& dir);

/// A CT (or any single-frame slice) series as a volume in HU: slices sorted along the normal of
/// their orientation, whatever the files' order; RescaleSlope / RescaleIntercept applied; the
/// grid's direction from ImageOrientationPatient. Refused (InputError naming the file and the
/// attribute): missing geometry, slices of other sizes or orientations, gantry-tilted or
/// non-parallel slices, duplicate positions, spacing that varies by more than 0.01 mm, pixel
/// data that is not 16-bit. Compressed slices (JPEG, JPEG-LS, RLE) are decoded with DCMTK.
ImageHU read_ct_series(const std::vector<std::filesystem::path>& files);

/// Closed planar contours (mm, patient coordinates) as a mask on `grid`: each contour is filled
/// on the slice it lies on (voxel centres inside, by the even-odd rule) and XORed with the
/// others of the same slice, so holes and islands come out as drawn. Throws InputError naming
/// `what` when a contour lies between slices or off the image.
Mask rasterise_contours(const std::vector<std::vector<Eigen::Vector3d>>& contours, const Grid& grid,
                        const std::string& what);

/// The patient in `dir` as a case: the CT series (the only one, or `series_uid`) and the
/// structures of the RT Structure Set that refers to it (names kept; RT ROI Interpreted Type as
/// the role: EXTERNAL -> external, PTV / CTV / GTV -> target, anything else -> organ).
/// Refused: no CT series, several without a choice, a structure set that refers to another
/// series or frame of reference, and everything read_ct_series refuses.
Case import_dicom_case(const std::filesystem::path& dir, const std::string& series_uid = "");

}  // namespace linac::formats
