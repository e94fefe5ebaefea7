#include "linac/formats/dicom_case.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

#include "dicom_write.hpp"
#include "linac/core/error.hpp"

namespace linac::formats {
namespace {

using detail::new_item;
using detail::put;

// The Study Component Management SOP class that RT Referenced Study Sequences name.
constexpr const char* kStudyComponentSopClass = "1.2.840.10008.3.1.2.3.1";

std::string ds(double v) {  // DICOM DS: at most 16 characters
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  if (std::string(buf).size() > 16) std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string new_uid(const char* root) {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, root);
}

void save(DcmFileFormat& file, const std::filesystem::path& path) {
  const OFCondition c = file.saveFile(path.c_str(), EXS_LittleEndianExplicit);
  if (c.bad()) throw std::runtime_error(path.string() + ": cannot write (" + c.text() + ")");
}

/// The Patient and General Study modules, and the date and time every object of a set shares.
struct Common {
  const DicomCaseIds& ids;
  std::string date;
  std::string time;
  void put_patient_and_study(DcmItem* d) const {
    put(d, DCM_PatientName, ids.patient_name);
    put(d, DCM_PatientID, ids.patient_id);
    put(d, DCM_PatientBirthDate, "");
    put(d, DCM_PatientSex, "");
    put(d, DCM_StudyInstanceUID, ids.study_instance_uid);
    put(d, DCM_StudyDate, date);
    put(d, DCM_StudyTime, time);
    put(d, DCM_ReferringPhysicianName, "");
    put(d, DCM_StudyID, "1");
    put(d, DCM_AccessionNumber, "");
    put(d, DCM_Manufacturer, "linac");
  }
};

std::string position_code(iec::PatientPosition p) {
  switch (p) {
    case iec::PatientPosition::kHFS:
      return "HFS";
    case iec::PatientPosition::kFFS:
      return "FFS";
    case iec::PatientPosition::kHFP:
      return "HFP";
    case iec::PatientPosition::kFFP:
      return "FFP";
  }
  return "HFS";
}

/// RT ROI Interpreted Type from the case's role and the structure's name.
std::string interpreted_type(const Structure& s) {
  if (s.role == "external") return "EXTERNAL";
  if (s.role == "target") {
    for (const char* t : {"PTV", "CTV", "GTV"}) {
      if (s.name.rfind(t, 0) == 0) return t;
    }
    return "CTV";  // an ITV and other targets: clinical target volumes
  }
  return "ORGAN";
}

struct CtSlice {
  std::string sop_instance_uid;
  std::filesystem::path path;
};

/// The CT Image attributes of slice `k` (all but the pixel data and the SOP instance).
void put_ct_slice(DcmDataset* d, const Case& c, const Common& common, std::int64_t k) {
  const Grid& g = c.ct.grid();
  const Eigen::Vector3d row = g.direction.col(0);
  const Eigen::Vector3d column = g.direction.col(1);
  put(d, DCM_SOPClassUID, UID_CTImageStorage);
  common.put_patient_and_study(d);
  put(d, DCM_Modality, "CT");
  put(d, DCM_SeriesInstanceUID, common.ids.ct_series_instance_uid);
  put(d, DCM_SeriesNumber, "1");
  put(d, DCM_SeriesDescription, c.name.substr(0, 64));
  put(d, DCM_PatientPosition, position_code(c.patient_position));
  put(d, DCM_Laterality, "");  // Type 2C: a paired body part may be imaged; not known here
  put(d, DCM_FrameOfReferenceUID, common.ids.frame_of_reference_uid);
  put(d, DCM_PositionReferenceIndicator, "");
  put(d, DCM_InstanceNumber, std::to_string(k + 1));
  put(d, DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL");
  put(d, DCM_KVP, "");
  put(d, DCM_AcquisitionNumber, "");
  const Eigen::Vector3d origin =
      g.index_to_world_mm(Eigen::Vector3d(0.0, 0.0, static_cast<double>(k)));
  put(d, DCM_ImagePositionPatient, ds(origin.x()) + "\\" + ds(origin.y()) + "\\" + ds(origin.z()));
  put(d, DCM_ImageOrientationPatient,
      ds(row.x()) + "\\" + ds(row.y()) + "\\" + ds(row.z()) + "\\" + ds(column.x()) + "\\" +
          ds(column.y()) + "\\" + ds(column.z()));
  put(d, DCM_SliceLocation, ds(origin.dot(row.cross(column))));
  put(d, DCM_PixelSpacing, ds(g.spacing_mm.y()) + "\\" + ds(g.spacing_mm.x()));
  put(d, DCM_SliceThickness, ds(g.spacing_mm.z()));
  put(d, DCM_SamplesPerPixel, "1");
  put(d, DCM_PhotometricInterpretation, "MONOCHROME2");
  put(d, DCM_Rows, std::to_string(g.dims[1]));
  put(d, DCM_Columns, std::to_string(g.dims[0]));
  put(d, DCM_BitsAllocated, "16");
  put(d, DCM_BitsStored, "16");
  put(d, DCM_HighBit, "15");
  put(d, DCM_PixelRepresentation, "1");  // signed: HU as stored
  put(d, DCM_RescaleIntercept, "0");
  put(d, DCM_RescaleSlope, "1");
  put(d, DCM_RescaleType, "HU");
}

std::vector<CtSlice> write_ct(const Case& c, const Common& common,
                              const std::filesystem::path& dir) {
  const Grid& g = c.ct.grid();
  std::vector<CtSlice> slices;
  std::vector<Uint16> pixels(static_cast<std::size_t>(g.dims[0] * g.dims[1]));
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    DcmFileFormat file;
    DcmDataset* d = file.getDataset();
    const std::string sop = new_uid(SITE_INSTANCE_UID_ROOT);
    put(d, DCM_SOPInstanceUID, sop);
    put_ct_slice(d, c, common, k);
    const std::size_t base = static_cast<std::size_t>(k) * pixels.size();
    for (std::size_t n = 0; n < pixels.size(); ++n) {
      pixels[n] = static_cast<Uint16>(c.ct[base + n]);  // two's complement of the int16
    }
    if (d->putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                                   static_cast<unsigned long>(pixels.size()))
            .bad()) {
      throw std::runtime_error("DICOM: cannot set the CT's pixel data");
    }
    char name[32];
    std::snprintf(name, sizeof(name), "CT.%04lld.dcm", static_cast<long long>(k + 1));
    const auto path = dir / name;
    save(file, path);
    slices.push_back({sop, path});
  }
  return slices;
}

/// One structure's entries in the Structure Set ROI, ROI Contour and RT ROI Observations
/// sequences; returns how many contours it wrote.
int put_roi(DcmDataset* d, const Structure& s, int roi_number, const Common& common,
            const std::vector<CtSlice>& ct) {
  static constexpr std::array<std::array<int, 3>, 8> kColours{{{255, 0, 0},
                                                               {0, 200, 0},
                                                               {0, 0, 255},
                                                               {255, 200, 0},
                                                               {255, 0, 255},
                                                               {0, 200, 200},
                                                               {160, 80, 0},
                                                               {128, 128, 128}}};
  const std::string number = std::to_string(roi_number);
  DcmItem* roi = new_item(d, DCM_StructureSetROISequence);
  put(roi, DCM_ROINumber, number);
  put(roi, DCM_ReferencedFrameOfReferenceUID, common.ids.frame_of_reference_uid);
  put(roi, DCM_ROIName, s.name.substr(0, 64));
  put(roi, DCM_ROIGenerationAlgorithm, "MANUAL");
  DcmItem* rc = new_item(d, DCM_ROIContourSequence);
  const auto& colour = kColours[static_cast<std::size_t>(roi_number - 1) % kColours.size()];
  put(rc, DCM_ROIDisplayColor,
      std::to_string(colour[0]) + "\\" + std::to_string(colour[1]) + "\\" +
          std::to_string(colour[2]));
  put(rc, DCM_ReferencedROINumber, number);
  int contours = 0;
  for (std::int64_t k = 0; k < s.mask.grid().dims[2]; ++k) {
    for (const auto& polygon : mask_slice_contours(s.mask, k)) {
      DcmItem* contour = new_item(rc, DCM_ContourSequence);
      DcmItem* image = new_item(contour, DCM_ContourImageSequence);
      put(image, DCM_ReferencedSOPClassUID, UID_CTImageStorage);
      put(image, DCM_ReferencedSOPInstanceUID, ct[static_cast<std::size_t>(k)].sop_instance_uid);
      put(contour, DCM_ContourNumber, std::to_string(++contours));
      put(contour, DCM_ContourGeometricType, "CLOSED_PLANAR");
      put(contour, DCM_NumberOfContourPoints, std::to_string(polygon.size()));
      std::string data;
      data.reserve(polygon.size() * 30);
      for (const auto& p : polygon) {
        if (!data.empty()) data += '\\';
        data += ds(p.x()) + "\\" + ds(p.y()) + "\\" + ds(p.z());
      }
      put(contour, DCM_ContourData, data);
    }
  }
  DcmItem* obs = new_item(d, DCM_RTROIObservationsSequence);
  put(obs, DCM_ObservationNumber, number);
  put(obs, DCM_ReferencedROINumber, number);
  put(obs, DCM_RTROIInterpretedType, interpreted_type(s));
  put(obs, DCM_ROIInterpreter, "");
  return contours;
}

int write_structure_set(const Case& c, const Common& common, const std::vector<CtSlice>& ct,
                        const std::filesystem::path& path) {
  DcmFileFormat file;
  DcmDataset* d = file.getDataset();
  put(d, DCM_SOPClassUID, UID_RTStructureSetStorage);
  put(d, DCM_SOPInstanceUID, common.ids.structure_set_sop_instance_uid);
  common.put_patient_and_study(d);
  put(d, DCM_Modality, "RTSTRUCT");
  put(d, DCM_SeriesInstanceUID, new_uid(SITE_SERIES_UID_ROOT));
  put(d, DCM_SeriesNumber, "2");
  put(d, DCM_OperatorsName, "");
  put(d, DCM_Laterality, "");
  put(d, DCM_FrameOfReferenceUID, common.ids.frame_of_reference_uid);
  put(d, DCM_PositionReferenceIndicator, "");
  put(d, DCM_StructureSetLabel, c.name.substr(0, 16));
  put(d, DCM_StructureSetDate, common.date);
  put(d, DCM_StructureSetTime, common.time);
  DcmItem* frame = new_item(d, DCM_ReferencedFrameOfReferenceSequence);
  put(frame, DCM_FrameOfReferenceUID, common.ids.frame_of_reference_uid);
  DcmItem* study = new_item(frame, DCM_RTReferencedStudySequence);
  put(study, DCM_ReferencedSOPClassUID, kStudyComponentSopClass);
  put(study, DCM_ReferencedSOPInstanceUID, common.ids.study_instance_uid);
  DcmItem* series = new_item(study, DCM_RTReferencedSeriesSequence);
  put(series, DCM_SeriesInstanceUID, common.ids.ct_series_instance_uid);
  for (const auto& s : ct) {
    DcmItem* image = new_item(series, DCM_ContourImageSequence);
    put(image, DCM_ReferencedSOPClassUID, UID_CTImageStorage);
    put(image, DCM_ReferencedSOPInstanceUID, s.sop_instance_uid);
  }
  int contours = 0;
  for (std::size_t r = 0; r < c.structures.size(); ++r) {
    contours += put_roi(d, c.structures[r], static_cast<int>(r) + 1, common, ct);
  }
  save(file, path);
  return contours;
}

/// An outer boundary with its holes as one polygon: each hole joined to the boundary by a cut of
/// zero width at their nearest vertices (a "keyhole"), traversed against the boundary's sense.
/// Readers that OR a structure's contours (plastimatch's default) and readers that XOR them then
/// fill the same voxels; separate hole contours would be filled by the first kind.
std::vector<cv::Point> keyhole(std::vector<cv::Point> outer,
                               std::vector<std::vector<cv::Point>> holes) {
  const bool outer_ccw = cv::contourArea(outer, true) > 0.0;
  for (auto& h : holes) {
    if ((cv::contourArea(h, true) > 0.0) == outer_ccw) std::reverse(h.begin(), h.end());
  }
  while (!holes.empty()) {
    // The globally nearest (boundary vertex, hole vertex) pair: its cut crosses no other hole.
    std::size_t best_hole = 0;
    std::size_t best_p = 0;
    std::size_t best_q = 0;
    long long best = std::numeric_limits<long long>::max();
    for (std::size_t h = 0; h < holes.size(); ++h) {
      for (std::size_t q = 0; q < holes[h].size(); ++q) {
        for (std::size_t p = 0; p < outer.size(); ++p) {
          const long long dx = outer[p].x - holes[h][q].x;
          const long long dy = outer[p].y - holes[h][q].y;
          if (dx * dx + dy * dy < best) {
            best = dx * dx + dy * dy;
            best_hole = h;
            best_p = p;
            best_q = q;
          }
        }
      }
    }
    const auto& hole = holes[best_hole];
    std::vector<cv::Point> joined(outer.begin(),
                                  outer.begin() + static_cast<std::ptrdiff_t>(best_p) + 1);
    joined.insert(joined.end(), hole.begin() + static_cast<std::ptrdiff_t>(best_q), hole.end());
    joined.insert(joined.end(), hole.begin(),
                  hole.begin() + static_cast<std::ptrdiff_t>(best_q) + 1);
    joined.insert(joined.end(), outer.begin() + static_cast<std::ptrdiff_t>(best_p), outer.end());
    outer = std::move(joined);
    holes.erase(holes.begin() + static_cast<std::ptrdiff_t>(best_hole));
  }
  return outer;
}

/// Drops the vertices in the middle of straight runs (as CHAIN_APPROX_SIMPLE does).
std::vector<cv::Point> simplify(const std::vector<cv::Point>& polygon) {
  const std::size_t n = polygon.size();
  if (n < 4) return polygon;
  std::vector<cv::Point> out;
  out.reserve(n / 2);
  for (std::size_t i = 0; i < n; ++i) {
    const cv::Point a = polygon[(i + n - 1) % n];
    const cv::Point b = polygon[i];
    const cv::Point c = polygon[(i + 1) % n];
    const cv::Point u = b - a;
    const cv::Point v = c - b;
    const bool straight = u.x * v.y - u.y * v.x == 0 && u.dot(v) > 0;
    if (!straight) out.push_back(b);
  }
  return out;
}

}  // namespace

std::vector<std::vector<Eigen::Vector3d>> mask_slice_contours(const Mask& mask, std::int64_t k) {
  const Grid& g = mask.grid();
  const int nx = static_cast<int>(g.dims[0]);
  const int ny = static_cast<int>(g.dims[1]);
  // Each voxel as 2 x 2 pixels, with a background border: the traced pixel centres then lie a
  // quarter voxel inside the boundary, never on a voxel centre.
  cv::Mat up = cv::Mat::zeros(2 * ny + 2, 2 * nx + 2, CV_8U);
  bool any = false;
  for (int j = 0; j < ny; ++j) {
    for (int i = 0; i < nx; ++i) {
      if (mask.at(i, j, k) == 0) continue;
      any = true;
      up(cv::Rect(2 * i + 1, 2 * j + 1, 2, 2)).setTo(1);
    }
  }
  std::vector<std::vector<Eigen::Vector3d>> out;
  if (!any) return out;
  std::vector<std::vector<cv::Point>> traced;
  std::vector<cv::Vec4i> hierarchy;
  cv::findContours(up, traced, hierarchy, cv::RETR_CCOMP, cv::CHAIN_APPROX_NONE);
  for (std::size_t c = 0; c < traced.size(); ++c) {
    if (hierarchy[c][3] >= 0) continue;  // a hole: spliced into its outer boundary below
    std::vector<std::vector<cv::Point>> holes;
    for (int h = hierarchy[c][2]; h >= 0; h = hierarchy[static_cast<std::size_t>(h)][0]) {
      holes.push_back(traced[static_cast<std::size_t>(h)]);
    }
    const std::vector<cv::Point> polygon = simplify(keyhole(traced[c], std::move(holes)));
    std::vector<Eigen::Vector3d> points;
    points.reserve(polygon.size());
    for (const auto& p : polygon) {
      // Pixel u of the padded image covers voxel index [(u - 1) / 2 - 0.5, u / 2 - 0.5].
      const double x = 0.5 * (p.x - 1) - 0.25;
      const double y = 0.5 * (p.y - 1) - 0.25;
      points.push_back(g.index_to_world_mm(Eigen::Vector3d(x, y, static_cast<double>(k))));
    }
    if (points.size() >= 3) out.push_back(std::move(points));
  }
  return out;
}

DicomCaseFiles write_dicom_case(const Case& c, const std::filesystem::path& dir, DicomCaseIds ids) {
  if (c.ct.empty()) throw InputError(c.name, "the case has no CT to export");
  for (const auto& s : c.structures) {
    if (!(s.mask.grid().dims == c.ct.grid().dims) ||
        !s.mask.grid().origin_mm.isApprox(c.ct.grid().origin_mm, 1e-6)) {
      throw InputError(c.name, "structure '" + s.name + "' is not on the CT's grid");
    }
  }
  if (ids.patient_id.empty()) ids.patient_id = c.name;
  if (ids.study_instance_uid.empty()) ids.study_instance_uid = new_uid(SITE_STUDY_UID_ROOT);
  if (ids.frame_of_reference_uid.empty())
    ids.frame_of_reference_uid = new_uid(SITE_SERIES_UID_ROOT);
  if (ids.ct_series_instance_uid.empty())
    ids.ct_series_instance_uid = new_uid(SITE_SERIES_UID_ROOT);
  if (ids.structure_set_sop_instance_uid.empty()) {
    ids.structure_set_sop_instance_uid = new_uid(SITE_INSTANCE_UID_ROOT);
  }
  std::filesystem::create_directories(dir);
  OFString date;
  OFString time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  const Common common{ids, date.c_str(), time.c_str()};
  DicomCaseFiles out;
  out.ids = ids;
  const auto ct = write_ct(c, common, dir);
  for (const auto& s : ct) out.ct_slices.push_back(s.path);
  out.structure_set = dir / "RS.dcm";
  out.contours = write_structure_set(c, common, ct, out.structure_set);
  return out;
}

}  // namespace linac::formats
