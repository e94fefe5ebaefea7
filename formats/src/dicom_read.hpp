#pragma once
// Reading helpers shared by the DICOM importers (formats/src only): attribute values, whole
// files, compressed pixel data, and the geometry of a stack of single-frame slices.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <Eigen/Core>
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "linac/core/grid.hpp"
#include "linac/formats/dicom_import.hpp"

namespace linac::formats::detail {

/// DCMTK's decoders for the compressed transfer syntaxes scanners and archives use (JPEG,
/// JPEG-LS, RLE), registered once for the process.
void register_decoders();
/// DCMTK's own logging off (errors reach the user as InputError).
void quiet_dcmtk();
/// The value of `tag` as text, trailing spaces removed; empty when absent.
std::string text(DcmItem* item, const DcmTagKey& tag);
/// All values of a DS (or IS) element; empty when absent or not numbers.
std::vector<double> numbers(DcmItem* item, const DcmTagKey& tag);
/// Loads `file` fully; throws InputError naming it when it cannot.
void load(DcmFileFormat& f, const std::filesystem::path& file);
/// Exactly `n` values of `tag`; throws InputError naming the file and the attribute.
std::vector<double> required_numbers(DcmItem* d, const DcmTagKey& tag, std::size_t n,
                                     const std::filesystem::path& file);

struct Slice {
  std::filesystem::path file;
  Eigen::Vector3d position;
  std::vector<double> orientation;    // ImageOrientationPatient: row, then column direction
  std::vector<double> pixel_spacing;  // between rows, between columns (mm)
  int rows = 0;
  int columns = 0;
  double position_along_normal = 0.0;
};

/// A slice's geometry from its header (pixel data left on disk).
Slice read_slice_geometry(const std::filesystem::path& file);
/// Refuses a slice whose matrix, orientation or pixel spacing differ from the first's.
void check_like_first(const Slice& s, const Slice& first);
/// Sorts `slices` along their normal and returns the series' grid; refuses a tilted or
/// non-parallel stack, duplicate positions and uneven spacing.
Grid series_grid(std::vector<Slice>& slices);
/// The first `count` pixel values of `d` (16-bit stored values, signed or not, decoded when
/// compressed) with RescaleSlope and RescaleIntercept applied. Throws InputError naming `where`.
std::vector<double> rescaled_pixels(DcmDataset* d, const std::string& where, std::size_t count);
/// A slice's pixels in HU (rescale applied, rounded) into `out` (Rows x Columns values).
void read_slice_hu(const std::filesystem::path& file, std::int16_t* out, std::size_t count);

/// import_dicom_case on a folder already scanned.
Case import_case_from(const DicomFolder& folder, const std::filesystem::path& dir,
                      const std::string& series_uid);

}  // namespace linac::formats::detail
