// A patient's DICOM beyond the planning CT and its structures: the reconstructed SPECT (NM) of a
// SPECT/CT and that scanner's CT, RT Doses and RT Plans.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "dicom_read.hpp"
#include "linac/core/error.hpp"
#include "linac/core/text.hpp"
#include "linac/formats/dicom_import.hpp"
#include "linac/formats/dicom_rtdose.hpp"

namespace linac::formats {
namespace {
using namespace detail;  // NOLINT(google-build-using-namespace): this module's own helpers

/// Refuses projections: an NM ImageType whose third value is not RECON ... (TOMO, STATIC, ...).
void check_reconstructed(DcmDataset* d, const std::string& where) {
  const std::string type = text(d, DCM_ImageType);
  std::vector<std::string> values;
  std::size_t from = 0;
  while (from <= type.size()) {
    const std::size_t to = std::min(type.find('\\', from), type.size());
    values.push_back(type.substr(from, to - from));
    from = to + 1;
  }
  if (values.size() >= 3 && values[2].rfind("RECON", 0) != 0) {
    throw InputError(where, "ImageType " + type +
                                " is not a reconstructed volume (RECON TOMO): projections are "
                                "not imported");
  }
}

/// One multi-frame NM Image: frames are slices along the normal of the orientation.
Volume<float> read_multiframe_nm(const std::filesystem::path& file) {
  DcmFileFormat f;
  load(f, file);
  DcmDataset* d = f.getDataset();
  const std::string where = file.string();
  check_reconstructed(d, where);
  // The geometry is the dataset's (PET, enhanced objects) or the detector's (NM Image).
  DcmItem* geometry = d;
  DcmItem* detector = nullptr;
  if (numbers(d, DCM_ImagePositionPatient).size() != 3 &&
      d->findAndGetSequenceItem(DCM_DetectorInformationSequence, detector, 0).good()) {
    geometry = detector;
  }
  const auto p = required_numbers(geometry, DCM_ImagePositionPatient, 3, file);
  const auto o = required_numbers(geometry, DCM_ImageOrientationPatient, 6, file);
  const auto spacing = required_numbers(d, DCM_PixelSpacing, 2, file);
  auto dz = numbers(d, DCM_SpacingBetweenSlices);
  if (dz.size() != 1 || dz[0] == 0.0) dz = numbers(d, DCM_SliceThickness);
  if (dz.size() != 1 || dz[0] == 0.0) {
    throw InputError(where, "SpacingBetweenSlices (or SliceThickness) missing or zero");
  }
  Uint16 rows = 0;
  Uint16 columns = 0;
  if (d->findAndGetUint16(DCM_Rows, rows).bad() ||
      d->findAndGetUint16(DCM_Columns, columns).bad() || rows == 0 || columns == 0) {
    throw InputError(where, "Rows or Columns missing");
  }
  const auto frames = numbers(d, DCM_NumberOfFrames);
  if (frames.size() != 1 || frames[0] < 1.0 || frames[0] > 4096.0) {
    throw InputError(where, "NumberOfFrames missing or outside 1-4096");
  }
  const auto nz = static_cast<std::int64_t>(frames[0]);
  // SliceVector gives each frame's slice number; the frames must come in slice order.
  const Uint16* slice_vector = nullptr;
  unsigned long slice_count = 0;
  if (d->findAndGetUint16Array(DCM_SliceVector, slice_vector, &slice_count).good() &&
      slice_vector != nullptr) {
    for (unsigned long k = 0; k < slice_count; ++k) {
      if (slice_vector[k] != k + 1) {
        throw InputError(where, "SliceVector: frame " + std::to_string(k + 1) + " is slice " +
                                    std::to_string(slice_vector[k]) +
                                    " (frames out of slice order are not imported)");
      }
    }
  }
  const Eigen::Vector3d row(o[0], o[1], o[2]);
  const Eigen::Vector3d column(o[3], o[4], o[5]);
  if (std::abs(row.norm() - 1.0) > 1e-3 || std::abs(column.norm() - 1.0) > 1e-3 ||
      std::abs(row.dot(column)) > 1e-3) {
    throw InputError(where, "ImageOrientationPatient is not orthonormal");
  }
  const Eigen::Vector3d normal = row.cross(column).normalized();
  Grid g;
  g.dims = {columns, rows, nz};
  g.spacing_mm = Eigen::Vector3d(spacing[1], spacing[0], std::abs(dz[0]));
  // A negative spacing runs the frames against the normal: the grid starts at the last one.
  const bool reversed = dz[0] < 0.0;
  g.origin_mm = Eigen::Vector3d(p[0], p[1], p[2]) +
                (reversed ? dz[0] * static_cast<double>(nz - 1) : 0.0) * normal;
  g.direction.col(0) = row;
  g.direction.col(1) = column;
  g.direction.col(2) = normal;
  const auto per_frame = static_cast<std::size_t>(rows) * columns;
  const auto values = rescaled_pixels(d, where, per_frame * static_cast<std::size_t>(nz));
  Volume<float> out(g, 0.0F);
  for (std::int64_t k = 0; k < nz; ++k) {
    const std::int64_t frame = reversed ? nz - 1 - k : k;
    for (std::size_t n = 0; n < per_frame; ++n) {
      out[static_cast<std::size_t>(k) * per_frame + n] =
          static_cast<float>(values[static_cast<std::size_t>(frame) * per_frame + n]);
    }
  }
  return out;
}

/// The series of `modality` objects by SeriesInstanceUID.
std::map<std::string, std::vector<const DicomObject*>> series_of(const DicomFolder& folder,
                                                                 const std::string& modality) {
  std::map<std::string, std::vector<const DicomObject*>> out;
  for (const auto& o : folder.objects) {
    if (o.modality == modality) out[o.series_instance_uid].push_back(&o);
  }
  return out;
}

std::vector<std::filesystem::path> files_of(const std::vector<const DicomObject*>& objects) {
  std::vector<std::filesystem::path> files;
  for (const auto* o : objects) files.push_back(o->file);
  return files;
}

/// The folder's SPECT/CT, when it has an NM series and a CT to register it by.
std::optional<SpectCtImport> import_spect_ct(const DicomFolder& folder,
                                             const std::filesystem::path& dir, const Case& patient,
                                             const std::string& spect_uid,
                                             std::vector<std::string>& notes) {
  auto nm = series_of(folder, "NM");
  if (nm.empty()) return std::nullopt;
  if (!spect_uid.empty()) {
    if (nm.count(spect_uid) == 0) {
      throw InputError(dir.string(), "no NM series with SeriesInstanceUID " + spect_uid);
    }
  } else if (nm.size() > 1) {
    std::string list;
    for (const auto& [u, objects] : nm) list += (list.empty() ? "" : ", ") + u;
    throw InputError(dir.string(), std::to_string(nm.size()) +
                                       " NM series; choose one with --spect-series UID: " + list);
  }
  const auto& objects = spect_uid.empty() ? nm.begin()->second : nm[spect_uid];
  const DicomObject& first = *objects.front();
  SpectCtImport s;
  s.spect_series_instance_uid = first.series_instance_uid;
  // The SPECT/CT's CT: a CT series in the NM's frame of reference (the planning CT when it is).
  const std::string planning_series = patient.metadata.count("ct_series_instance_uid") != 0
                                          ? patient.metadata.at("ct_series_instance_uid")
                                          : std::string();
  const DicomObject* ct_first = nullptr;
  for (const auto& [uid, cts] : series_of(folder, "CT")) {
    if (cts.front()->frame_of_reference_uid == first.frame_of_reference_uid &&
        (ct_first == nullptr || uid != planning_series)) {
      ct_first = cts.front();
      s.ct_series_instance_uid = uid;
    }
  }
  if (ct_first == nullptr) {
    notes.push_back("NM series " + first.series_instance_uid +
                    " left out: no CT series in its frame of reference " +
                    first.frame_of_reference_uid + " to register it by");
    return std::nullopt;
  }
  s.spect = read_nm_volume(files_of(objects));
  if (s.ct_series_instance_uid == planning_series) {
    s.ct = patient.ct;
  } else {
    s.ct = read_ct_series(files_of(series_of(folder, "CT")[s.ct_series_instance_uid]));
  }
  return s;
}

}  // namespace

Volume<float> read_nm_volume(const std::vector<std::filesystem::path>& files) {
  if (files.empty()) throw InputError("NM series", "no images");
  if (files.size() == 1) return read_multiframe_nm(files.front());
  // Single-frame slices (PET, some SPECT exports): a stack like a CT series.
  std::vector<Slice> slices;
  for (const auto& file : files) {
    DcmFileFormat f;
    load(f, file);
    const auto frames = numbers(f.getDataset(), DCM_NumberOfFrames);
    if (!frames.empty() && frames[0] > 1.0) {
      throw InputError(file.string(), "NumberOfFrames " + format_number(frames[0]) +
                                          " in a series of several files: one multi-frame "
                                          "volume per series");
    }
    check_reconstructed(f.getDataset(), file.string());
    slices.push_back(read_slice_geometry(file));
    check_like_first(slices.back(), slices.front());
  }
  Volume<float> out(series_grid(slices), 0.0F);
  const auto per_slice = static_cast<std::size_t>(out.grid().dims[0] * out.grid().dims[1]);
  for (std::size_t k = 0; k < slices.size(); ++k) {
    DcmFileFormat f;
    load(f, slices[k].file);
    const auto values = rescaled_pixels(f.getDataset(), slices[k].file.string(), per_slice);
    for (std::size_t n = 0; n < per_slice; ++n) {
      out[k * per_slice + n] = static_cast<float>(values[n]);
    }
  }
  return out;
}

PatientImport import_dicom_patient(const std::filesystem::path& dir, const std::string& series_uid,
                                   const std::string& spect_series_uid) {
  const DicomFolder folder = scan_dicom_folder(dir);
  PatientImport out;
  out.patient = import_case_from(folder, dir, series_uid);
  out.spect_ct = import_spect_ct(folder, dir, out.patient, spect_series_uid, out.notes);
  const std::string& frame = out.patient.metadata["ct_frame_of_reference_uid"];
  for (const auto& o : folder.objects) {
    if (o.modality == "RTDOSE") {
      if (!frame.empty() && o.frame_of_reference_uid != frame) {
        throw InputError(o.file.string(), "the RT Dose's FrameOfReferenceUID " +
                                              o.frame_of_reference_uid + " is not the CT's " +
                                              frame);
      }
      DoseImport dose;
      dose.file = o.file;
      dose.sop_instance_uid = o.sop_instance_uid;
      {
        DcmFileFormat f;
        load(f, o.file);
        DcmItem* plan = nullptr;
        if (f.getDataset()->findAndGetSequenceItem(DCM_ReferencedRTPlanSequence, plan, 0).good()) {
          dose.referenced_plan_sop_instance_uid = text(plan, DCM_ReferencedSOPInstanceUID);
        }
      }
      dose.dose_gy = read_dicom_rtdose(o.file);
      out.doses.push_back(std::move(dose));
    } else if (o.modality == "RTPLAN") {
      try {
        out.plans.push_back({o.file, o.sop_instance_uid, read_dicom_rtplan(o.file)});
      } catch (const InputError& e) {
        out.notes.push_back(std::string("RT Plan left out: ") + e.what());
      }
    }
  }
  return out;
}

}  // namespace linac::formats
