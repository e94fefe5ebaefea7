#pragma once
// MetaImage (.mha with the data inline, .mhd with a separate raw file), raw or zlib-compressed,
// as read and written by ITK, plastimatch, elastix and 3D Slicer. 3-D, one channel.
#include <filesystem>
#include <string>

#include "linac/core/volume.hpp"

namespace linac {

enum class ElementType { kUInt8, kInt8, kUInt16, kInt16, kUInt32, kInt32, kFloat32, kFloat64 };

/// "MET_SHORT" etc.
std::string to_met_string(ElementType type);
std::size_t element_size(ElementType type);

struct MetaImageHeader {
  Grid grid;
  ElementType element_type = ElementType::kInt16;
  bool compressed = false;
  bool byte_order_msb = false;         // big-endian data (swapped on reading)
  std::size_t compressed_size = 0;     // 0 when not given
  std::filesystem::path data_file;     // empty for LOCAL (data follows the header)
  std::size_t header_bytes = 0;        // offset of the data in a LOCAL file
  std::string anatomical_orientation;  // e.g. "RAI" (ITK's name for LPS), informative only
};

/// Reads and checks the header only. Throws InputError naming the file and the field.
MetaImageHeader read_metaimage_header(const std::filesystem::path& path);

/// Reads the image and converts its elements to T (rounding and clamping for integer T).
/// Throws InputError for a missing, truncated or inconsistent file.
template <typename T>
Volume<T> read_metaimage(const std::filesystem::path& path);

struct MetaImageWriteOptions {
  bool compress = false;
};

/// Writes `vol`. A `.mha` path holds header and data; a `.mhd` path gets a sibling `.raw`
/// (or `.zraw` when compressed). Throws std::runtime_error when the file cannot be written.
template <typename T>
void write_metaimage(const std::filesystem::path& path, const Volume<T>& vol,
                     const MetaImageWriteOptions& options = {});

}  // namespace linac
