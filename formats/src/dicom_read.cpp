#include "dicom_read.hpp"

#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::formats::detail {

/// DCMTK's decoders for the compressed transfer syntaxes scanners and archives use: JPEG
/// (baseline, extended, lossless), JPEG-LS and RLE. Registered once, for the process.
void register_decoders() {
  static const bool once = [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
    return true;
  }();
  (void)once;
}

void quiet_dcmtk() {
  static const bool once = [] {
    OFLog::configure(OFLogger::OFF_LOG_LEVEL);
    return true;
  }();
  (void)once;
}

std::string text(DcmItem* item, const DcmTagKey& tag) {
  OFString v;
  if (item->findAndGetOFStringArray(tag, v).bad()) return "";
  std::string s = v.c_str();
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

/// All values of a DS (or IS) element. Parsed here from the whole string: DCMTK's per-index
/// access re-counts the values at every call, quadratic in a contour's thousands of numbers.
std::vector<double> numbers(DcmItem* item, const DcmTagKey& tag) {
  std::vector<double> out;
  const char* text = nullptr;
  if (item->findAndGetString(tag, text).bad() || text == nullptr) return out;
  const char* p = text;
  while (*p != '\0') {
    char* end = nullptr;
    const double v = std::strtod(p, &end);
    if (end == p || !std::isfinite(v))
      return {};  // not a number: as if absent (named by the caller)
    out.push_back(v);
    p = end;
    while (*p == ' ') ++p;
    if (*p == '\\') ++p;
  }
  return out;
}

/// Loads `file` fully; throws InputError naming it when it cannot.
void load(DcmFileFormat& f, const std::filesystem::path& file) {
  quiet_dcmtk();
  const OFCondition c = f.loadFile(file.c_str());
  if (c.bad())
    throw InputError(file.string(), std::string("not a readable DICOM file: ") + c.text());
}

std::vector<double> required_numbers(DcmItem* d, const DcmTagKey& tag, std::size_t n,
                                     const std::filesystem::path& file) {
  auto v = numbers(d, tag);
  if (v.size() != n) {
    throw InputError(file.string(), std::string(DcmTag(tag).getTagName()) + " missing or not " +
                                        std::to_string(n) + " values");
  }
  return v;
}

/// A slice's geometry from its header (pixel data left on disk).
Slice read_slice_geometry(const std::filesystem::path& file) {
  DcmFileFormat f;
  quiet_dcmtk();
  if (f.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096).bad()) {
    throw InputError(file.string(), "not a readable DICOM file");
  }
  DcmDataset* d = f.getDataset();
  Slice s;
  s.file = file;
  const auto p = required_numbers(d, DCM_ImagePositionPatient, 3, file);
  s.position = Eigen::Vector3d(p[0], p[1], p[2]);
  s.orientation = required_numbers(d, DCM_ImageOrientationPatient, 6, file);
  s.pixel_spacing = required_numbers(d, DCM_PixelSpacing, 2, file);
  Uint16 r = 0;
  Uint16 c = 0;
  if (d->findAndGetUint16(DCM_Rows, r).bad() || d->findAndGetUint16(DCM_Columns, c).bad() ||
      r == 0 || c == 0) {
    throw InputError(file.string(), "Rows or Columns missing");
  }
  s.rows = r;
  s.columns = c;
  return s;
}

/// The same matrix, orientation and pixel spacing as the series' first slice.
void check_like_first(const Slice& s, const Slice& first) {
  const std::string where = s.file.string();
  if (s.rows != first.rows || s.columns != first.columns) {
    throw InputError(where, "Rows x Columns " + std::to_string(s.rows) + " x " +
                                std::to_string(s.columns) + " differ from the series' " +
                                std::to_string(first.rows) + " x " + std::to_string(first.columns));
  }
  for (std::size_t a = 0; a < 6; ++a) {
    if (std::abs(s.orientation[a] - first.orientation[a]) > 1e-4) {
      throw InputError(where, "ImageOrientationPatient differs from the series'");
    }
  }
  for (std::size_t a = 0; a < 2; ++a) {
    if (std::abs(s.pixel_spacing[a] - first.pixel_spacing[a]) > 1e-4) {
      throw InputError(where, "PixelSpacing differs from the series'");
    }
  }
}

/// Sorts `slices` along their normal and returns the series' grid; refuses a tilted or
/// non-parallel stack, duplicate positions and uneven spacing.
Grid series_grid(std::vector<Slice>& slices) {
  const auto& o = slices.front().orientation;
  const Eigen::Vector3d row(o[0], o[1], o[2]);
  const Eigen::Vector3d column(o[3], o[4], o[5]);
  if (std::abs(row.norm() - 1.0) > 1e-3 || std::abs(column.norm() - 1.0) > 1e-3 ||
      std::abs(row.dot(column)) > 1e-3) {
    throw InputError(slices.front().file.string(), "ImageOrientationPatient is not orthonormal");
  }
  const Eigen::Vector3d normal = row.cross(column).normalized();
  for (auto& s : slices) s.position_along_normal = s.position.dot(normal);
  std::sort(slices.begin(), slices.end(), [](const Slice& a, const Slice& b) {
    return a.position_along_normal < b.position_along_normal;
  });
  double dz = 1.0;
  if (slices.size() > 1) {
    dz = (slices.back().position_along_normal - slices.front().position_along_normal) /
         static_cast<double>(slices.size() - 1);
  }
  for (std::size_t k = 0; k < slices.size(); ++k) {
    const Eigen::Vector3d offset = slices[k].position - slices.front().position;
    const double sideways = (offset - offset.dot(normal) * normal).norm();
    if (sideways > 0.01) {
      throw InputError(slices[k].file.string(),
                       "ImagePositionPatient is off the slice normal by " +
                           format_measured(sideways) +
                           " mm: gantry-tilted or non-parallel slices are not imported");
    }
    if (k == 0) continue;
    const double step = slices[k].position_along_normal - slices[k - 1].position_along_normal;
    if (step < 1e-3) {
      throw InputError(slices[k].file.string(), "same position as " + slices[k - 1].file.string());
    }
    if (std::abs(step - dz) > 0.01) {
      throw InputError(slices[k].file.string(),
                       "slice spacing " + format_measured(step) + " mm differs from the series' " +
                           format_measured(dz) + " mm (missing or uneven slices)");
    }
  }
  Grid g;
  g.dims = {slices.front().columns, slices.front().rows, static_cast<std::int64_t>(slices.size())};
  g.spacing_mm =
      Eigen::Vector3d(slices.front().pixel_spacing[1], slices.front().pixel_spacing[0], dz);
  g.origin_mm = slices.front().position;
  g.direction.col(0) = row;
  g.direction.col(1) = column;
  g.direction.col(2) = normal;
  return g;
}

std::vector<double> rescaled_pixels(DcmDataset* d, const std::string& where, std::size_t count) {
  const E_TransferSyntax ts = d->getOriginalXfer();
  if (DcmXfer(ts).isEncapsulated()) {
    register_decoders();
    if (d->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
        !d->canWriteXfer(EXS_LittleEndianExplicit)) {
      throw InputError(where, std::string("compressed pixel data (") + DcmXfer(ts).getXferName() +
                                  ") that DCMTK cannot decode");
    }
  }
  Uint16 bits = 0;
  Uint16 representation = 0;
  if (d->findAndGetUint16(DCM_BitsAllocated, bits).bad() || bits != 16) {
    throw InputError(where, "BitsAllocated is not 16");
  }
  (void)d->findAndGetUint16(DCM_PixelRepresentation, representation);
  Float64 slope = 1.0;
  Float64 intercept = 0.0;
  (void)d->findAndGetFloat64(DCM_RescaleSlope, slope);
  (void)d->findAndGetFloat64(DCM_RescaleIntercept, intercept);
  if (!std::isfinite(slope) || !std::isfinite(intercept) || slope == 0.0) {
    throw InputError(where, "RescaleSlope or RescaleIntercept is not a usable number");
  }
  const Uint16* raw = nullptr;
  unsigned long stored = 0;
  if (d->findAndGetUint16Array(DCM_PixelData, raw, &stored).bad() || raw == nullptr ||
      stored < count) {
    throw InputError(where, "PixelData missing or shorter than its Rows x Columns x frames");
  }
  std::vector<double> out(count);
  for (std::size_t n = 0; n < count; ++n) {
    const double value =
        representation == 1 ? static_cast<double>(static_cast<Sint16>(raw[n])) : raw[n];
    out[n] = value * slope + intercept;
  }
  return out;
}

void read_slice_hu(const std::filesystem::path& file, std::int16_t* out, std::size_t count) {
  DcmFileFormat f;
  load(f, file);
  const auto values = rescaled_pixels(f.getDataset(), file.string(), count);
  for (std::size_t n = 0; n < count; ++n) {
    out[n] = static_cast<std::int16_t>(std::clamp(std::round(values[n]), -32768.0, 32767.0));
  }
}

}  // namespace linac::formats::detail
