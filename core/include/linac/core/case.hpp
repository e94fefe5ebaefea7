#pragma once
// A case: a planning CT (HU) and its structures (masks on the CT's grid, with a role), the
// patient's position and free-text metadata. Read and written as a case folder by
// linac/formats/case_folder.hpp, imported from DICOM by linac/formats/dicom_import.hpp.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "linac/core/iec61217.hpp"
#include "linac/core/volume.hpp"

namespace linac {

struct Structure {
  std::string name;
  std::string role;  // "external", "organ", "target"
  Mask mask;
};

struct Case {
  std::string name;
  iec::PatientPosition patient_position = iec::PatientPosition::kHFS;
  ImageHU ct;
  std::vector<Structure> structures;
  std::map<std::string, std::string> metadata;  // free text, e.g. generator and seed

  /// The structure called `name`, or nullptr.
  [[nodiscard]] const Structure* find(const std::string& structure_name) const;
  /// The structure called `name`; throws InputError listing the names that exist.
  [[nodiscard]] const Structure& get(const std::string& structure_name) const;
};

/// The treatment isocentre of a case (mm, its patient coordinates): the PTV's centroid, else
/// the liver's, else the centre of the CT.
Eigen::Vector3d treatment_isocentre_mm(const Case& c);
/// The image with its coordinates moved so that `isocentre_mm` is the origin (the frame of the
/// machine's imaging and delivery: DICOM patient axes, isocentre at 0).
ImageHU centred_on(const ImageHU& image, const Eigen::Vector3d& isocentre_mm);
Mask centred_on(const Mask& mask, const Eigen::Vector3d& isocentre_mm);

}  // namespace linac
