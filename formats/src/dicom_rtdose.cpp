#include "linac/formats/dicom_rtdose.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "dicom_write.hpp"
#include "linac/core/error.hpp"

namespace linac {

namespace {

using formats::detail::put;

std::string ds(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

}  // namespace

void write_dicom_rtdose(const std::filesystem::path& path, const Volume<float>& dose_gy,
                        const RtDoseInfo& info) {
  const Grid& g = dose_gy.grid();
  if (!g.direction.isIdentity(1e-6)) {
    throw std::runtime_error("RT Dose: only axis-aligned dose grids are written");
  }
  if (info.referenced_plan_sop_instance_uid.empty()) {
    // Type 1C: a dose summed over a plan (or a part of it) names the plan.
    throw std::invalid_argument("RT Dose: the RT Plan it is the dose of is not named");
  }
  double max = 0.0;
  for (const float v : dose_gy.data()) max = std::max(max, static_cast<double>(v));
  // 16-bit values (a step of 1/65,535 of the maximum, 0.3 mGy at 20 Gy): what dciodvfy checks
  // and every reader takes; 32-bit RT Doses are read as well.
  // The scaling as written (10 digits) is the one the values are quantised with.
  const std::string scaling_text = formats::detail::ds(max > 0.0 ? max / 65535.0 : 1e-9, 10);
  const double scaling = std::strtod(scaling_text.c_str(), nullptr);
  DcmFileFormat file;
  DcmDataset* d = file.getDataset();
  char uid[100];
  put(d, DCM_SOPClassUID, UID_RTDoseStorage);
  put(d, DCM_SOPInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT));
  auto given_or_new = [&uid](const std::string& given, const char* root) {
    return given.empty() ? std::string(dcmGenerateUniqueIdentifier(uid, root)) : given;
  };
  put(d, DCM_StudyInstanceUID, given_or_new(info.study_instance_uid, SITE_STUDY_UID_ROOT));
  put(d, DCM_SeriesInstanceUID, dcmGenerateUniqueIdentifier(uid, SITE_SERIES_UID_ROOT));
  put(d, DCM_FrameOfReferenceUID, given_or_new(info.frame_of_reference_uid, SITE_SERIES_UID_ROOT));
  {
    DcmItem* plan = nullptr;
    if (d->findOrCreateSequenceItem(DCM_ReferencedRTPlanSequence, plan, -2).bad() ||
        plan == nullptr) {
      throw std::runtime_error("RT Dose: cannot add the Referenced RT Plan Sequence");
    }
    put(plan, DCM_ReferencedSOPClassUID, UID_RTPlanStorage);
    put(plan, DCM_ReferencedSOPInstanceUID, info.referenced_plan_sop_instance_uid);
  }
  put(d, DCM_Modality, "RTDOSE");
  put(d, DCM_Manufacturer, "linac");
  put(d, DCM_PatientID, info.patient_id);
  // Type 2 attributes of the Patient, General Study, RT Series and Frame of Reference modules:
  // present, empty where the dose does not know them.
  put(d, DCM_PatientName, info.patient_name);
  for (const DcmTagKey& empty :
       {DCM_PatientBirthDate, DCM_PatientSex, DCM_ReferringPhysicianName, DCM_AccessionNumber,
        DCM_OperatorsName, DCM_PositionReferenceIndicator}) {
    put(d, empty, "");
  }
  OFString date;
  OFString time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  put(d, DCM_StudyDate, date.c_str());
  put(d, DCM_StudyTime, time.c_str());
  put(d, DCM_StudyID, "1");
  put(d, DCM_SeriesNumber, "1");
  put(d, DCM_InstanceNumber, "1");
  put(d, DCM_SeriesDescription, info.plan_label);
  put(d, DCM_DoseUnits, "GY");
  put(d, DCM_DoseType, "PHYSICAL");
  put(d, DCM_DoseSummationType, info.summation);
  put(d, DCM_SamplesPerPixel, "1");
  put(d, DCM_PhotometricInterpretation, "MONOCHROME2");
  put(d, DCM_BitsAllocated, "16");
  put(d, DCM_BitsStored, "16");
  put(d, DCM_HighBit, "15");
  put(d, DCM_PixelRepresentation, "0");
  put(d, DCM_Rows, std::to_string(g.dims[1]));
  put(d, DCM_Columns, std::to_string(g.dims[0]));
  put(d, DCM_NumberOfFrames, std::to_string(g.dims[2]));
  put(d, DCM_FrameIncrementPointer, "(3004,000c)");
  put(d, DCM_PixelSpacing, ds(g.spacing_mm.y()) + "\\" + ds(g.spacing_mm.x()));
  put(d, DCM_SliceThickness, ds(g.spacing_mm.z()));
  put(d, DCM_ImagePositionPatient,
      ds(g.origin_mm.x()) + "\\" + ds(g.origin_mm.y()) + "\\" + ds(g.origin_mm.z()));
  put(d, DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  std::ostringstream offsets;
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    offsets << (k ? "\\" : "") << ds(static_cast<double>(k) * g.spacing_mm.z());
  }
  put(d, DCM_GridFrameOffsetVector, offsets.str());
  put(d, DCM_DoseGridScaling, scaling_text);
  std::vector<Uint16> pixels(dose_gy.size());
  for (std::size_t n = 0; n < pixels.size(); ++n) {
    const double v = std::max(0.0, static_cast<double>(dose_gy[n])) / scaling;
    pixels[n] = static_cast<Uint16>(std::min(std::round(v), 65535.0));
  }
  if (d->putAndInsertUint16Array(DCM_PixelData, pixels.data(),
                                 static_cast<unsigned long>(pixels.size()))
          .bad()) {
    throw std::runtime_error("RT Dose: cannot store the pixel data");
  }
  const std::filesystem::path tmp = path.string() + ".tmp";
  if (file.saveFile(tmp.c_str(), EXS_LittleEndianExplicit).bad()) {
    throw std::runtime_error("RT Dose: cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path);
}

Volume<float> read_dicom_rtdose(const std::filesystem::path& path) {
  const std::string where = path.string();
  DcmFileFormat file;
  if (file.loadFile(path.c_str()).bad()) throw InputError(where, "not a readable DICOM file");
  DcmDataset* d = file.getDataset();
  OFString modality;
  if (d->findAndGetOFString(DCM_Modality, modality).bad() || modality != "RTDOSE") {
    throw InputError(where, "Modality is not RTDOSE");
  }
  Uint16 rows = 0, cols = 0, bits = 0;
  Sint32 frames = 1;
  if (d->findAndGetUint16(DCM_Rows, rows).bad() || d->findAndGetUint16(DCM_Columns, cols).bad() ||
      d->findAndGetUint16(DCM_BitsAllocated, bits).bad() || rows == 0 || cols == 0) {
    throw InputError(where, "missing Rows, Columns or BitsAllocated");
  }
  (void)d->findAndGetSint32(DCM_NumberOfFrames, frames);
  if (frames < 1 || (bits != 16 && bits != 32)) {
    throw InputError(where, "NumberOfFrames < 1 or BitsAllocated not 16/32");
  }
  Float64 scaling = 0.0, px = 0.0, py = 0.0;
  if (d->findAndGetFloat64(DCM_DoseGridScaling, scaling).bad() || !(scaling > 0.0)) {
    throw InputError(where, "missing or non-positive DoseGridScaling");
  }
  if (d->findAndGetFloat64(DCM_PixelSpacing, py, 0).bad() ||
      d->findAndGetFloat64(DCM_PixelSpacing, px, 1).bad()) {
    throw InputError(where, "missing PixelSpacing");
  }
  Float64 pos[3] = {0, 0, 0};
  for (unsigned long i = 0; i < 3; ++i) {
    if (d->findAndGetFloat64(DCM_ImagePositionPatient, pos[i], i).bad()) {
      throw InputError(where, "missing ImagePositionPatient");
    }
  }
  double dz = 1.0;
  Float64 o0 = 0.0, o1 = 0.0;
  if (frames > 1) {
    if (d->findAndGetFloat64(DCM_GridFrameOffsetVector, o0, 0).bad() ||
        d->findAndGetFloat64(DCM_GridFrameOffsetVector, o1, 1).bad()) {
      throw InputError(where, "missing GridFrameOffsetVector");
    }
    dz = o1 - o0;
  }
  Grid g;
  g.dims = {cols, rows, frames};
  g.spacing_mm = Eigen::Vector3d(px, py, std::abs(dz) > 0 ? std::abs(dz) : 1.0);
  g.origin_mm = Eigen::Vector3d(pos[0], pos[1], pos[2] + o0);
  g.validate(where);
  Volume<float> out(g);
  const std::size_t n = out.size();
  if (bits == 32) {
    const Uint16* raw = nullptr;
    unsigned long count = 0;
    if (d->findAndGetUint16Array(DCM_PixelData, raw, &count).bad() || count < 2 * n) {
      throw InputError(where, "PixelData is missing or shorter than Rows x Columns x Frames");
    }
    for (std::size_t i = 0; i < n; ++i) {
      const Uint32 v =
          static_cast<Uint32>(raw[2 * i]) | (static_cast<Uint32>(raw[2 * i + 1]) << 16);
      out[i] = static_cast<float>(static_cast<double>(v) * scaling);
    }
  } else {
    const Uint16* raw = nullptr;
    unsigned long count = 0;
    if (d->findAndGetUint16Array(DCM_PixelData, raw, &count).bad() || count < n) {
      throw InputError(where, "PixelData is missing or shorter than Rows x Columns x Frames");
    }
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(raw[i] * scaling);
  }
  return out;
}

}  // namespace linac
