#include "linac/formats/metaimage.hpp"

#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <vector>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/text.hpp"

namespace linac {
namespace fs = std::filesystem;

std::string to_met_string(ElementType type) {
  switch (type) {
    case ElementType::kUInt8:
      return "MET_UCHAR";
    case ElementType::kInt8:
      return "MET_CHAR";
    case ElementType::kUInt16:
      return "MET_USHORT";
    case ElementType::kInt16:
      return "MET_SHORT";
    case ElementType::kUInt32:
      return "MET_UINT";
    case ElementType::kInt32:
      return "MET_INT";
    case ElementType::kFloat32:
      return "MET_FLOAT";
    case ElementType::kFloat64:
      return "MET_DOUBLE";
  }
  return "?";
}

std::size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::kUInt8:
    case ElementType::kInt8:
      return 1;
    case ElementType::kUInt16:
    case ElementType::kInt16:
      return 2;
    case ElementType::kUInt32:
    case ElementType::kInt32:
    case ElementType::kFloat32:
      return 4;
    case ElementType::kFloat64:
      return 8;
  }
  return 0;
}

namespace {

template <typename T>
constexpr ElementType element_type_of() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return ElementType::kUInt8;
  if constexpr (std::is_same_v<T, std::int8_t>) return ElementType::kInt8;
  if constexpr (std::is_same_v<T, std::uint16_t>) return ElementType::kUInt16;
  if constexpr (std::is_same_v<T, std::int16_t>) return ElementType::kInt16;
  if constexpr (std::is_same_v<T, std::uint32_t>) return ElementType::kUInt32;
  if constexpr (std::is_same_v<T, std::int32_t>) return ElementType::kInt32;
  if constexpr (std::is_same_v<T, float>) return ElementType::kFloat32;
  if constexpr (std::is_same_v<T, double>) return ElementType::kFloat64;
}

ElementType parse_element_type(const std::string& s, const std::string& where) {
  static const std::map<std::string, ElementType> kTypes = {
      {"MET_UCHAR", ElementType::kUInt8},   {"MET_CHAR", ElementType::kInt8},
      {"MET_USHORT", ElementType::kUInt16}, {"MET_SHORT", ElementType::kInt16},
      {"MET_UINT", ElementType::kUInt32},   {"MET_INT", ElementType::kInt32},
      {"MET_FLOAT", ElementType::kFloat32}, {"MET_DOUBLE", ElementType::kFloat64},
      {"MET_LONG", ElementType::kInt32},    {"MET_ULONG", ElementType::kUInt32}};
  const auto it = kTypes.find(s);
  if (it == kTypes.end()) throw InputError(where, "unsupported ElementType '" + s + "'");
  return it->second;
}

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::vector<double> parse_numbers(const std::string& value, std::size_t count,
                                  const std::string& where, const std::string& key) {
  std::istringstream is(value);
  std::vector<double> out;
  std::string tok;
  while (is >> tok) {
    double v = 0.0;
    const auto* end = tok.data() + tok.size();
    const auto [ptr, ec] = std::from_chars(tok.data(), end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v)) {
      throw InputError(where, key + " has a bad number '" + tok + "'");
    }
    out.push_back(v);
  }
  if (out.size() != count) {
    throw InputError(where, key + " has " + std::to_string(out.size()) + " values, expected " +
                                std::to_string(count));
  }
  return out;
}

bool parse_bool(const std::string& value) {
  std::string v = value;
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "true" || v == "1";
}

// Converts `count` stored elements of `type` starting at `src` to T.
template <typename T>
void convert_elements(const char* src, ElementType type, bool msb, std::vector<T>& dst) {
  auto convert = [&](auto tag) {
    using S = decltype(tag);
    for (std::size_t n = 0; n < dst.size(); ++n) {
      S s;
      std::memcpy(&s, src + n * sizeof(S), sizeof(S));
      if (msb && sizeof(S) > 1) {
        auto* b = reinterpret_cast<unsigned char*>(&s);
        std::reverse(b, b + sizeof(S));
      }
      if constexpr (std::is_integral_v<T>) {
        const double v = static_cast<double>(s);
        const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
        const double hi = static_cast<double>(std::numeric_limits<T>::max());
        dst[n] = std::isfinite(v) ? static_cast<T>(std::clamp(std::round(v), lo, hi)) : T{0};
      } else {
        dst[n] = static_cast<T>(s);
      }
    }
  };
  switch (type) {
    case ElementType::kUInt8:
      convert(std::uint8_t{});
      break;
    case ElementType::kInt8:
      convert(std::int8_t{});
      break;
    case ElementType::kUInt16:
      convert(std::uint16_t{});
      break;
    case ElementType::kInt16:
      convert(std::int16_t{});
      break;
    case ElementType::kUInt32:
      convert(std::uint32_t{});
      break;
    case ElementType::kInt32:
      convert(std::int32_t{});
      break;
    case ElementType::kFloat32:
      convert(float{});
      break;
    case ElementType::kFloat64:
      convert(double{});
      break;
  }
}

std::vector<char> read_bytes_from(const fs::path& path, std::size_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string(), "cannot open the data file");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::size_t>(in.tellg());
  if (offset > size) throw InputError(path.string(), "data offset past the end of the file");
  std::vector<char> bytes(size - offset);
  in.seekg(static_cast<std::streamoff>(offset));
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

std::vector<char> inflate_all(const std::vector<char>& in, std::size_t expected,
                              const std::string& where) {
  std::vector<char> out(expected);
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) throw std::runtime_error("zlib inflateInit failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = inflate(&zs, Z_FINISH);
  const std::size_t produced = zs.total_out;
  if (rc == Z_BUF_ERROR && zs.avail_out == 0) {
    // Output full: is there more than the header promised?
    char probe = 0;
    zs.next_out = reinterpret_cast<Bytef*>(&probe);
    zs.avail_out = 1;
    rc = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    if (zs.total_out > expected) {
      throw InputError(where, "compressed data holds more than the " + std::to_string(expected) +
                                  " bytes its header's DimSize and ElementType call for");
    }
    throw InputError(where, "compressed data is truncated or corrupt (zlib: incomplete stream)");
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    throw InputError(where, "compressed data is truncated or corrupt: inflated " +
                                std::to_string(produced) + " of " + std::to_string(expected) +
                                " bytes (zlib code " + std::to_string(rc) + ")");
  }
  if (produced != expected) {
    throw InputError(where, "compressed data inflates to " + std::to_string(produced) +
                                " bytes, the header calls for " + std::to_string(expected));
  }
  return out;
}

}  // namespace

MetaImageHeader read_metaimage_header(const fs::path& path) {
  const std::string where = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(where, fs::exists(path) ? "cannot open the file" : "no such file");
  }
  std::map<std::string, std::string> fields;
  std::string line;
  MetaImageHeader h;
  bool have_data_file = false;
  int line_no = 0;
  constexpr int kMaxHeaderLines = 200;
  while (std::getline(in, line)) {
    ++line_no;
    if (line_no > kMaxHeaderLines) {
      throw InputError(where, "no ElementDataFile within the first 200 header lines");
    }
    const auto eq = line.find('=');
    if (eq == std::string::npos) {
      throw InputError(where, "header line " + std::to_string(line_no) + " is not 'Key = Value'");
    }
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    fields[key] = value;
    if (key == "ElementDataFile") {
      have_data_file = true;
      h.header_bytes = static_cast<std::size_t>(in.tellg());
      break;
    }
  }
  if (!have_data_file) throw InputError(where, "not a MetaImage: no ElementDataFile field");

  auto need = [&](const std::string& key) -> const std::string& {
    const auto it = fields.find(key);
    if (it == fields.end()) throw InputError(where, "header lacks " + key);
    return it->second;
  };
  auto find_any = [&](std::initializer_list<const char*> keys) -> const std::string* {
    for (const char* k : keys) {
      const auto it = fields.find(k);
      if (it != fields.end()) return &it->second;
    }
    return nullptr;
  };

  if (const auto it = fields.find("ObjectType"); it != fields.end() && it->second != "Image") {
    throw InputError(where, "ObjectType is '" + it->second + "', expected Image");
  }
  const auto ndims = parse_numbers(need("NDims"), 1, where, "NDims")[0];
  if (ndims != 3.0) {
    throw InputError(where, "NDims is " + format_number(ndims) + ", only 3-D images are supported");
  }
  if (const auto it = fields.find("ElementNumberOfChannels");
      it != fields.end() && parse_numbers(it->second, 1, where, it->first)[0] != 1.0) {
    throw InputError(where, "ElementNumberOfChannels must be 1");
  }
  const auto dims = parse_numbers(need("DimSize"), 3, where, "DimSize");
  for (int a = 0; a < 3; ++a) {
    if (dims[a] < 1 || dims[a] != std::floor(dims[a]) || dims[a] > 1e6) {
      throw InputError(where, "DimSize has a bad size '" + format_number(dims[a]) + "'");
    }
    h.grid.dims[a] = static_cast<std::int64_t>(dims[a]);
  }
  if (const auto* s = find_any({"ElementSpacing", "ElementSize"})) {
    const auto sp = parse_numbers(*s, 3, where, "ElementSpacing");
    h.grid.spacing_mm = Eigen::Vector3d(sp[0], sp[1], sp[2]);
  }
  if (const auto* s = find_any({"Offset", "Origin", "Position"})) {
    const auto o = parse_numbers(*s, 3, where, "Offset");
    h.grid.origin_mm = Eigen::Vector3d(o[0], o[1], o[2]);
  }
  if (const auto* s = find_any({"TransformMatrix", "Rotation", "Orientation"})) {
    const auto m = parse_numbers(*s, 9, where, "TransformMatrix");
    // MetaIO lists the direction of each image axis in turn: columns of the direction matrix.
    for (int c = 0; c < 3; ++c) {
      for (int r = 0; r < 3; ++r) h.grid.direction(r, c) = m[c * 3 + r];
    }
  }
  h.grid.validate(where);
  h.element_type = parse_element_type(need("ElementType"), where);
  if (const auto it = fields.find("BinaryData"); it != fields.end() && !parse_bool(it->second)) {
    throw InputError(where, "ASCII MetaImage data (BinaryData = False) is not supported");
  }
  if (const auto* s = find_any({"BinaryDataByteOrderMSB", "ElementByteOrderMSB"})) {
    h.byte_order_msb = parse_bool(*s);
  }
  if (const auto it = fields.find("CompressedData"); it != fields.end()) {
    h.compressed = parse_bool(it->second);
  }
  if (const auto it = fields.find("CompressedDataSize"); it != fields.end()) {
    h.compressed_size = static_cast<std::size_t>(parse_numbers(it->second, 1, where, it->first)[0]);
  }
  if (const auto it = fields.find("AnatomicalOrientation"); it != fields.end()) {
    h.anatomical_orientation = it->second;
  }
  const std::string data_file = fields["ElementDataFile"];
  if (data_file != "LOCAL") {
    if (data_file.empty() || data_file.find(' ') != std::string::npos ||
        data_file.rfind("LIST", 0) == 0) {
      throw InputError(where, "ElementDataFile '" + data_file + "' is not a single file name");
    }
    h.data_file = path.parent_path() / data_file;
    h.header_bytes = 0;
  }
  return h;
}

template <typename T>
Volume<T> read_metaimage(const fs::path& path) {
  const MetaImageHeader h = read_metaimage_header(path);
  const fs::path data_path = h.data_file.empty() ? path : h.data_file;
  const std::string where = data_path.string();
  const std::size_t expected = h.grid.voxel_count() * element_size(h.element_type);
  std::vector<char> bytes = read_bytes_from(data_path, h.header_bytes);
  if (h.compressed) {
    if (h.compressed_size != 0 && bytes.size() < h.compressed_size) {
      throw InputError(where, "truncated: CompressedDataSize is " +
                                  std::to_string(h.compressed_size) + " bytes, file holds " +
                                  std::to_string(bytes.size()));
    }
    if (h.compressed_size != 0) bytes.resize(h.compressed_size);
    // zlib cannot expand by more than about 1032:1; a header promising more is lying, and
    // believing it would allocate memory the data can never fill.
    constexpr std::size_t kMaxDeflateRatio = 1032;
    if (expected / kMaxDeflateRatio > bytes.size() + 64) {
      throw InputError(where, "the header calls for " + std::to_string(expected) +
                                  " bytes, more than " + std::to_string(bytes.size()) +
                                  " bytes of compressed data can hold");
    }
    bytes = inflate_all(bytes, expected, where);
  } else if (bytes.size() < expected) {
    throw InputError(where, "truncated: " + std::to_string(bytes.size()) +
                                " bytes of data after the header, DimSize and ElementType call "
                                "for " +
                                std::to_string(expected));
  } else if (bytes.size() > expected) {
    throw InputError(where, "the header does not match the data: " + std::to_string(bytes.size()) +
                                " bytes of data, DimSize and " + "ElementType call for " +
                                std::to_string(expected));
  }
  Volume<T> vol(h.grid);
  convert_elements(bytes.data(), h.element_type, h.byte_order_msb, vol.data());
  return vol;
}

template <typename T>
void write_metaimage(const fs::path& path, const Volume<T>& vol,
                     const MetaImageWriteOptions& options) {
  const Grid& g = vol.grid();
  g.validate(path.string());
  const bool local = path.extension() != ".mhd";
  const fs::path data_path =
      local ? path : fs::path(path).replace_extension(options.compress ? ".zraw" : ".raw");

  const auto* raw = reinterpret_cast<const char*>(vol.data().data());
  const std::size_t raw_size = vol.size() * sizeof(T);
  std::vector<char> packed;
  if (options.compress) {
    uLongf out_size = compressBound(static_cast<uLong>(raw_size));
    packed.resize(out_size);
    if (compress2(reinterpret_cast<Bytef*>(packed.data()), &out_size,
                  reinterpret_cast<const Bytef*>(raw), static_cast<uLong>(raw_size),
                  Z_BEST_SPEED) != Z_OK) {
      throw std::runtime_error(path.string() + ": zlib compression failed");
    }
    packed.resize(out_size);
  }

  std::ostringstream hdr;
  auto triple = [](const Eigen::Vector3d& v) {
    return format_number(v[0]) + " " + format_number(v[1]) + " " + format_number(v[2]);
  };
  hdr << "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = False\n";
  hdr << "CompressedData = " << (options.compress ? "True" : "False") << "\n";
  if (options.compress) hdr << "CompressedDataSize = " << packed.size() << "\n";
  hdr << "TransformMatrix =";
  for (int c = 0; c < 3; ++c) {
    for (int r = 0; r < 3; ++r) hdr << ' ' << format_number(g.direction(r, c));
  }
  hdr << "\nOffset = " << triple(g.origin_mm) << "\nCenterOfRotation = 0 0 0\n";
  hdr << "AnatomicalOrientation = RAI\n";
  hdr << "ElementSpacing = " << triple(g.spacing_mm) << "\n";
  hdr << "DimSize = " << g.dims[0] << ' ' << g.dims[1] << ' ' << g.dims[2] << "\n";
  hdr << "ElementType = " << to_met_string(element_type_of<T>()) << "\n";
  hdr << "ElementDataFile = " << (local ? std::string("LOCAL") : data_path.filename().string())
      << "\n";

  const char* data = options.compress ? packed.data() : raw;
  const std::size_t data_size = options.compress ? packed.size() : raw_size;
  if (local) {
    std::string header = hdr.str();
    write_file_atomically(path, {{header.data(), header.size()}, {data, data_size}});
  } else {
    write_file_atomically(data_path, {{data, data_size}});
    std::string header = hdr.str();
    write_file_atomically(path, {{header.data(), header.size()}});
  }
}

#define LINAC_INSTANTIATE_METAIMAGE(T)                   \
  template Volume<T> read_metaimage<T>(const fs::path&); \
  template void write_metaimage<T>(const fs::path&, const Volume<T>&, const MetaImageWriteOptions&);
LINAC_INSTANTIATE_METAIMAGE(std::uint8_t)
LINAC_INSTANTIATE_METAIMAGE(std::int16_t)
LINAC_INSTANTIATE_METAIMAGE(std::uint16_t)
LINAC_INSTANTIATE_METAIMAGE(std::int32_t)
LINAC_INSTANTIATE_METAIMAGE(float)
LINAC_INSTANTIATE_METAIMAGE(double)
#undef LINAC_INSTANTIATE_METAIMAGE

}  // namespace linac
