#pragma once
// A patient from DICOM: what a folder holds (studies, series, objects), a CT series as a volume
// in HU, and an RT Structure Set's contours as masks on that CT's grid (even-odd rule: holes and
// several contours per slice), a reconstructed SPECT (NM) volume and the CT of its SPECT/CT, RT
// Plans and RT Doses. DCMTK reads every file. Errors name the file and the attribute.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "linac/core/volume.hpp"
#include "linac/formats/case_folder.hpp"
#include "linac/formats/dicom_rtplan.hpp"

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

/// A reconstructed NM (SPECT) or PET volume in its stored units after RescaleSlope/Intercept
/// (counts, Bq/ml): either one multi-frame NM Image (frames are slices from the
/// ImagePositionPatient of DetectorInformationSequence, or of the dataset, along the normal of
/// its ImageOrientationPatient, SpacingBetweenSlices apart — a negative spacing runs the other
/// way — in SliceVector order) or a series of single-frame slices sorted as a CT series is.
/// Refused (InputError naming the file and the attribute): projections (ImageType not RECON),
/// several multi-frame files, frames out of slice order, missing geometry or spacing, pixel data
/// that is not 16-bit.
Volume<float> read_nm_volume(const std::vector<std::filesystem::path>& files);

/// The patient in `dir` as a case: the CT series (the only one, or `series_uid`) and the
/// structures of the RT Structure Set that refers to it (names kept; RT ROI Interpreted Type as
/// the role: EXTERNAL -> external, PTV / CTV / GTV -> target, anything else -> organ).
/// Refused: no CT series, several without a choice, a structure set that refers to another
/// series or frame of reference, and everything read_ct_series refuses.
/// A CT series in the frame of reference of an NM series is that SPECT/CT's CT, not a planning
/// CT, when the folder holds another CT series.
Case import_dicom_case(const std::filesystem::path& dir, const std::string& series_uid = "");

/// A SPECT/CT from DICOM: the SPECT and the CT sharing its frame of reference (the planning CT
/// itself when the folder has no other), each on its own grid, in that frame.
struct SpectCtImport {
  Volume<float> spect;
  ImageHU ct;
  std::string spect_series_instance_uid;
  std::string ct_series_instance_uid;
};

/// An RT Dose in the planning CT's frame of reference, in Gy on its own grid.
struct DoseImport {
  std::filesystem::path file;
  std::string sop_instance_uid;
  std::string referenced_plan_sop_instance_uid;
  Volume<float> dose_gy;
};

/// An RT Plan of the folder, as the delivery reads it.
struct PlanImport {
  std::filesystem::path file;
  std::string sop_instance_uid;
  DicomPlanImport plan;
};

/// Everything of a patient a DICOM folder holds that the product uses.
struct PatientImport {
  Case patient;                           // planning CT and structure set, as import_dicom_case
  std::optional<SpectCtImport> spect_ct;  // when the folder holds an NM series
  std::vector<DoseImport> doses;
  std::vector<PlanImport> plans;
  std::vector<std::string> notes;  // one line each: what was left out and why
};

/// import_dicom_case, and the folder's SPECT/CT (one NM series; several need `spect_series_uid`),
/// RT Doses and RT Plans. Refused as import_dicom_case, and: an RT Dose in another frame of
/// reference than the planning CT's; several NM series without a choice. Left out with a note:
/// an NM series with no CT in its frame of reference (nothing to register it by), an RT Plan
/// the delivery cannot read (electrons, wedges, ...).
PatientImport import_dicom_patient(const std::filesystem::path& dir,
                                   const std::string& series_uid = "",
                                   const std::string& spect_series_uid = "");

}  // namespace linac::formats
