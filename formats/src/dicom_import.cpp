#include "linac/formats/dicom_import.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "dicom_read.hpp"
#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::formats {
using namespace detail;  // NOLINT(google-build-using-namespace): this module's own helpers
namespace {

std::string role_of(const std::string& interpreted_type) {
  if (interpreted_type == "EXTERNAL") return "external";
  if (interpreted_type == "PTV" || interpreted_type == "CTV" || interpreted_type == "GTV") {
    return "target";
  }
  return "organ";
}

}  // namespace

DicomFolder scan_dicom_folder(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) throw InputError(dir.string(), "not a folder");
  quiet_dcmtk();
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  DicomFolder out;
  for (const auto& file : files) {
    DcmFileFormat f;
    // Headers only: values longer than 4 kB (pixel data, contours) stay on disk.
    if (f.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096).bad()) {
      out.skipped.push_back(file.string() + ": not DICOM");
      continue;
    }
    DcmDataset* d = f.getDataset();
    DicomObject o;
    o.file = file;
    o.modality = text(d, DCM_Modality);
    o.sop_instance_uid = text(d, DCM_SOPInstanceUID);
    o.series_instance_uid = text(d, DCM_SeriesInstanceUID);
    o.study_instance_uid = text(d, DCM_StudyInstanceUID);
    o.frame_of_reference_uid = text(d, DCM_FrameOfReferenceUID);
    o.patient_id = text(d, DCM_PatientID);
    o.series_description = text(d, DCM_SeriesDescription);
    if (o.modality.empty() || o.sop_instance_uid.empty()) {
      out.skipped.push_back(file.string() + ": no Modality or SOPInstanceUID");
      continue;
    }
    out.objects.push_back(std::move(o));
  }
  return out;
}

namespace {}  // namespace

ImageHU read_ct_series(const std::vector<std::filesystem::path>& files) {
  if (files.empty()) throw InputError("CT series", "no slices");
  std::vector<Slice> slices;
  for (const auto& file : files) {
    slices.push_back(read_slice_geometry(file));
    check_like_first(slices.back(), slices.front());
  }
  ImageHU out(series_grid(slices), 0);
  const auto per_slice = static_cast<std::size_t>(out.grid().dims[0] * out.grid().dims[1]);
  for (std::size_t k = 0; k < slices.size(); ++k) {
    read_slice_hu(slices[k].file, &out[k * per_slice], per_slice);
  }
  return out;
}

Mask rasterise_contours(const std::vector<std::vector<Eigen::Vector3d>>& contours, const Grid& grid,
                        const std::string& what) {
  Mask m(grid, 0);
  const auto nx = grid.dims[0];
  const auto ny = grid.dims[1];
  std::vector<std::uint8_t> slice_fill(static_cast<std::size_t>(nx * ny));
  for (std::size_t c = 0; c < contours.size(); ++c) {
    const auto& contour = contours[c];
    const std::string where = what + " contour " + std::to_string(c + 1);
    if (contour.size() < 3) throw InputError(where, "fewer than 3 points");
    std::vector<Eigen::Vector3d> index;
    index.reserve(contour.size());
    double z = 0.0;
    for (const auto& p : contour) {
      index.push_back(grid.world_mm_to_index(p));
      z += index.back().z();
    }
    z /= static_cast<double>(index.size());
    const auto k = static_cast<std::int64_t>(std::lround(z));
    for (const auto& q : index) {
      if (std::abs(q.z() - z) > 0.05) throw InputError(where, "is not planar on an image slice");
    }
    if (std::abs(z - static_cast<double>(k)) > 0.3) {
      throw InputError(where, "lies between image slices (slice index " + format_measured(z) + ")");
    }
    for (const auto& q : index) {
      if (k < 0 || k >= grid.dims[2] || q.x() < -1.0 || q.y() < -1.0 ||
          q.x() > static_cast<double>(nx) || q.y() > static_cast<double>(ny)) {
        throw InputError(where, "lies off the image");
      }
    }
    // Crossing number at each voxel centre of each row: fill between crossing pairs.
    std::vector<double> crossings;
    for (std::int64_t j = 0; j < ny; ++j) {
      const auto y = static_cast<double>(j);
      crossings.clear();
      for (std::size_t a = 0, b = index.size() - 1; a < index.size(); b = a++) {
        const double ya = index[a].y();
        const double yb = index[b].y();
        if ((ya > y) != (yb > y)) {
          crossings.push_back(index[a].x() + (y - ya) * (index[b].x() - index[a].x()) / (yb - ya));
        }
      }
      std::sort(crossings.begin(), crossings.end());
      for (std::size_t p = 0; p + 1 < crossings.size(); p += 2) {
        const auto i0 =
            std::max<std::int64_t>(0, static_cast<std::int64_t>(std::ceil(crossings[p])));
        const auto i1 = std::min<std::int64_t>(
            nx - 1, static_cast<std::int64_t>(std::ceil(crossings[p + 1])) - 1);
        for (std::int64_t i = i0; i <= i1; ++i) m.at(i, j, k) ^= 1;  // even-odd across contours
      }
    }
  }
  return m;
}

namespace {

/// The CT series to import: the only one, or `series_uid`; its slices.
std::vector<const DicomObject*> choose_ct_series(const DicomFolder& folder,
                                                 const std::filesystem::path& dir,
                                                 const std::string& series_uid) {
  std::map<std::string, std::vector<const DicomObject*>> ct_series;
  std::set<std::string> nm_frames;
  for (const auto& o : folder.objects) {
    if (o.modality == "CT") ct_series[o.series_instance_uid].push_back(&o);
    if (o.modality == "NM" || o.modality == "PT") nm_frames.insert(o.frame_of_reference_uid);
  }
  if (ct_series.empty()) throw InputError(dir.string(), "no CT series found");
  // A SPECT/CT's (or PET/CT's) own CT is not the planning CT when there is another.
  std::map<std::string, std::vector<const DicomObject*>> planning_series;
  for (const auto& [uid, objects] : ct_series) {
    if (nm_frames.count(objects.front()->frame_of_reference_uid) == 0) {
      planning_series[uid] = objects;
    }
  }
  if (!planning_series.empty() && series_uid.empty()) ct_series = std::move(planning_series);
  if (!series_uid.empty()) {
    if (ct_series.count(series_uid) == 0) {
      throw InputError(dir.string(), "no CT series with SeriesInstanceUID " + series_uid);
    }
    return ct_series[series_uid];
  }
  if (ct_series.size() > 1) {
    std::string list;
    for (const auto& [u, objects] : ct_series) {
      list += (list.empty() ? "" : ", ") + u + " (" + std::to_string(objects.size()) + " slices)";
    }
    throw InputError(dir.string(), std::to_string(ct_series.size()) +
                                       " CT series; choose one with --series UID: " + list);
  }
  return ct_series.begin()->second;
}

/// Refuses a structure set drawn on another series or frame of reference than `ct`'s.
void check_drawn_on(DcmDataset* d, const DicomObject& ct, const std::string& where) {
  std::set<std::string> series;
  std::string frame;
  DcmItem* fr = nullptr;
  for (int a = 0; d->findAndGetSequenceItem(DCM_ReferencedFrameOfReferenceSequence, fr, a).good();
       ++a) {
    frame = text(fr, DCM_FrameOfReferenceUID);
    DcmItem* st = nullptr;
    for (int b = 0; fr->findAndGetSequenceItem(DCM_RTReferencedStudySequence, st, b).good(); ++b) {
      DcmItem* se = nullptr;
      for (int e = 0; st->findAndGetSequenceItem(DCM_RTReferencedSeriesSequence, se, e).good();
           ++e) {
        series.insert(text(se, DCM_SeriesInstanceUID));
      }
    }
  }
  if (!series.empty() && series.count(ct.series_instance_uid) == 0) {
    throw InputError(where, "the structure set refers to series " + *series.begin() +
                                ", not to the CT series " + ct.series_instance_uid);
  }
  if (series.empty() && !frame.empty() && frame != ct.frame_of_reference_uid) {
    throw InputError(where, "the structure set's frame of reference " + frame +
                                " is not the CT's " + ct.frame_of_reference_uid);
  }
}

/// ROI number -> the text of `field` in the items of `sequence` (keyed by `number_tag`).
std::map<long, std::string> roi_texts(DcmDataset* d, const DcmTagKey& sequence,
                                      const DcmTagKey& number_tag, const DcmTagKey& field) {
  std::map<long, std::string> out;
  DcmItem* it = nullptr;
  for (int a = 0; d->findAndGetSequenceItem(sequence, it, a).good(); ++a) {
    long number = 0;
    if (it->findAndGetLongInt(number_tag, number).good()) out[number] = text(it, field);
  }
  return out;
}

/// The structures of the RT Structure Set `rs`, drawn on `ct`, as masks on `grid`.
std::vector<Structure> read_structure_set(const DicomObject& rs, const DicomObject& ct,
                                          const Grid& grid) {
  DcmFileFormat f;
  load(f, rs.file);
  DcmDataset* d = f.getDataset();
  const std::string where = rs.file.string();
  check_drawn_on(d, ct, where);
  auto names = roi_texts(d, DCM_StructureSetROISequence, DCM_ROINumber, DCM_ROIName);
  auto types = roi_texts(d, DCM_RTROIObservationsSequence, DCM_ReferencedROINumber,
                         DCM_RTROIInterpretedType);
  std::vector<Structure> out;
  DcmItem* it = nullptr;
  for (int a = 0; d->findAndGetSequenceItem(DCM_ROIContourSequence, it, a).good(); ++a) {
    long number = 0;
    if (it->findAndGetLongInt(DCM_ReferencedROINumber, number).bad() || names.count(number) == 0) {
      throw InputError(where, "ROIContourSequence item " + std::to_string(a + 1) +
                                  " names no ROI of the StructureSetROISequence");
    }
    const std::string roi = where + ": ROI '" + names[number] + "'";
    std::vector<std::vector<Eigen::Vector3d>> contours;
    DcmItem* ci = nullptr;
    for (int b = 0; it->findAndGetSequenceItem(DCM_ContourSequence, ci, b).good(); ++b) {
      if (text(ci, DCM_ContourGeometricType) != "CLOSED_PLANAR") continue;
      const auto v = numbers(ci, DCM_ContourData);
      if (v.size() < 9 || v.size() % 3 != 0) {
        throw InputError(roi + " contour " + std::to_string(b + 1),
                         "ContourData is not a list of 3 or more points");
      }
      std::vector<Eigen::Vector3d> points;
      for (std::size_t p = 0; p < v.size(); p += 3) points.emplace_back(v[p], v[p + 1], v[p + 2]);
      contours.push_back(std::move(points));
    }
    if (contours.empty()) continue;  // points or markers only
    out.push_back({names[number], role_of(types[number]), rasterise_contours(contours, grid, roi)});
  }
  return out;
}

}  // namespace

Case import_dicom_case(const std::filesystem::path& dir, const std::string& series_uid) {
  return detail::import_case_from(scan_dicom_folder(dir), dir, series_uid);
}

Case detail::import_case_from(const DicomFolder& folder, const std::filesystem::path& dir,
                              const std::string& series_uid) {
  const auto slices = choose_ct_series(folder, dir, series_uid);
  std::vector<std::filesystem::path> files;
  for (const auto* o : slices) files.push_back(o->file);
  const DicomObject& first = *slices.front();
  Case c;
  c.name = first.patient_id.empty() ? dir.filename().string() : first.patient_id;
  c.ct = read_ct_series(files);
  {
    DcmFileFormat f;
    load(f, first.file);
    const std::string position = text(f.getDataset(), DCM_PatientPosition);
    if (!position.empty()) c.patient_position = iec::parse_patient_position(position);
  }
  c.metadata["source"] = "DICOM " + dir.string();
  c.metadata["ct_series_instance_uid"] = first.series_instance_uid;
  c.metadata["ct_frame_of_reference_uid"] = first.frame_of_reference_uid;
  for (const auto& o : folder.objects) {
    if (o.modality != "RTSTRUCT") continue;
    for (auto& s : read_structure_set(o, first, c.ct.grid())) c.structures.push_back(std::move(s));
  }
  return c;
}

}  // namespace linac::formats
