// MetaImage reading and writing: round trips and bad files.
#include "linac/formats/metaimage.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "linac/core/error.hpp"
#include "linac/core/random.hpp"
#include "linac/core/transform.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using Eigen::Vector3d;
using test::TempDir;

Grid test_grid() {
  Grid g;
  g.dims = {17, 13, 11};
  g.spacing_mm = Vector3d(0.9765625, 0.9765625, 2.5);
  g.origin_mm = Vector3d(-250.0, -180.5, 33.25);
  g.direction = RigidTransform::from_euler_deg({0.0, 0.0, 20.0}, Vector3d::Zero()).rotation();
  return g;
}

template <typename T>
Volume<T> random_volume(std::uint64_t seed) {
  Rng rng(seed);
  Volume<T> v(test_grid());
  for (auto& x : v.data())
    x = static_cast<T>(rng.uniform(-1000.0, 3000.0) * (sizeof(T) == 1 ? 0.06 : 1.0));
  return v;
}

template <typename T>
void expect_same(const Volume<T>& a, const Volume<T>& b) {
  EXPECT_TRUE(a.grid().same_as(b.grid(), 1e-9));
  EXPECT_EQ(a.data(), b.data());
}

TEST(MetaImage, RoundTripsEveryLayoutAndType) {
  TempDir dir;
  for (const bool compress : {false, true}) {
    for (const char* ext : {".mha", ".mhd"}) {
      const auto name = std::string("img") + (compress ? "_z" : "") + ext;
      const auto s16 = random_volume<std::int16_t>(1);
      write_metaimage(dir / ("s16" + name), s16, {compress});
      expect_same(read_metaimage<std::int16_t>(dir / ("s16" + name)), s16);
      const auto u8 = random_volume<std::uint8_t>(2);
      write_metaimage(dir / ("u8" + name), u8, {compress});
      expect_same(read_metaimage<std::uint8_t>(dir / ("u8" + name)), u8);
      const auto f32 = random_volume<float>(3);
      write_metaimage(dir / ("f32" + name), f32, {compress});
      expect_same(read_metaimage<float>(dir / ("f32" + name)), f32);
    }
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "s16img.raw"));
  EXPECT_TRUE(std::filesystem::exists(dir / "s16img_z.zraw"));
  const auto h = read_metaimage_header(dir / "f32img_z.mha");
  EXPECT_TRUE(h.compressed);
  EXPECT_EQ(h.element_type, ElementType::kFloat32);
}

TEST(MetaImage, ConvertsElementTypesOnReading) {
  TempDir dir;
  Volume<float> f(test_grid(), 0.0F);
  f[0] = 12.6F;
  f[1] = -40000.0F;  // clamps to the int16 range
  write_metaimage(dir / "f.mha", f);
  const auto s = read_metaimage<std::int16_t>(dir / "f.mha");
  EXPECT_EQ(s[0], 13);
  EXPECT_EQ(s[1], -32768);
}

TEST(MetaImage, ReadsBigEndianData) {
  TempDir dir;
  const std::string header =
      "ObjectType = Image\nNDims = 3\nBinaryData = True\nBinaryDataByteOrderMSB = True\n"
      "DimSize = 2 1 1\nElementSpacing = 1 1 1\nElementType = MET_SHORT\nElementDataFile = LOCAL\n";
  const char data[] = {0x01, 0x02, static_cast<char>(0xFF), static_cast<char>(0xFE)};
  test::write_text(dir / "be.mha", header + std::string(data, 4));
  const auto v = read_metaimage<std::int16_t>(dir / "be.mha");
  EXPECT_EQ(v[0], 0x0102);
  EXPECT_EQ(v[1], -2);
}

// Expects InputError whose message contains every one of `parts`.
void expect_input_error(const std::filesystem::path& path,
                        std::initializer_list<const char*> parts) {
  try {
    (void)read_metaimage<std::int16_t>(path);
    ADD_FAILURE() << "no error for " << path;
  } catch (const InputError& e) {
    for (const char* p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
    }
  }
}

TEST(MetaImage, BadFilesGiveAClearError) {
  TempDir dir;
  const auto v = random_volume<std::int16_t>(4);
  write_metaimage(dir / "good.mha", v);
  write_metaimage(dir / "goodz.mha", v, {true});
  const std::string good = test::read_text(dir / "good.mha");
  const std::string goodz = test::read_text(dir / "goodz.mha");

  expect_input_error(dir / "missing.mha", {"missing.mha", "no such file"});

  test::write_text(dir / "truncated.mha", good.substr(0, good.size() - 100));
  expect_input_error(dir / "truncated.mha", {"truncated.mha", "truncated"});

  test::write_text(dir / "truncz.mha", goodz.substr(0, goodz.size() - 50));
  expect_input_error(dir / "truncz.mha", {"truncz.mha", "truncated"});

  // A header that lies: more voxels than the data holds, and fewer.
  std::string lie_big = good;
  lie_big.replace(lie_big.find("DimSize = 17 13 11"), 18, "DimSize = 17 13 12");
  test::write_text(dir / "lie_big.mha", lie_big);
  expect_input_error(dir / "lie_big.mha", {"lie_big.mha", "truncated"});
  std::string lie_small = good;
  lie_small.replace(lie_small.find("DimSize = 17 13 11"), 18, "DimSize = 17 13 10");
  test::write_text(dir / "lie_small.mha", lie_small);
  expect_input_error(dir / "lie_small.mha", {"lie_small.mha", "does not match"});
  std::string lie_z = goodz;
  lie_z.replace(lie_z.find("DimSize = 17 13 11"), 18, "DimSize = 17 13 10");
  test::write_text(dir / "lie_z.mha", lie_z);
  expect_input_error(dir / "lie_z.mha", {"lie_z.mha", "more than"});

  // A tiny compressed file whose header promises gigabytes is refused before any allocation.
  std::string huge = goodz;
  huge.replace(huge.find("DimSize = 17 13 11"), 18, "DimSize = 2000 2000 500");
  test::write_text(dir / "huge.mha", huge);
  expect_input_error(dir / "huge.mha", {"huge.mha", "compressed data can hold"});

  std::string bad_type = good;
  bad_type.replace(bad_type.find("MET_SHORT"), 9, "MET_QUUX_");
  test::write_text(dir / "bad_type.mha", bad_type);
  expect_input_error(dir / "bad_type.mha", {"bad_type.mha", "ElementType"});

  std::string bad_spacing = good;
  bad_spacing.replace(bad_spacing.find("ElementSpacing = "), 17, "ElementSpacing = -");
  test::write_text(dir / "bad_spacing.mha", bad_spacing);
  expect_input_error(dir / "bad_spacing.mha", {"bad_spacing.mha", "spacing"});

  test::write_text(dir / "text.mha", "hello world\n");
  expect_input_error(dir / "text.mha", {"text.mha"});

  test::write_text(dir / "two_d.mha",
                   "NDims = 2\nDimSize = 2 2\nElementType = MET_SHORT\nElementDataFile = LOCAL\n");
  expect_input_error(dir / "two_d.mha", {"two_d.mha", "NDims"});

  test::write_text(
      dir / "nodata.mhd",
      "NDims = 3\nDimSize = 2 2 2\nElementType = MET_SHORT\nElementDataFile = nodata.raw\n");
  expect_input_error(dir / "nodata.mhd", {"nodata.raw"});

  // Random bytes after a valid header: zlib must refuse them, not crash.
  std::string garbage = goodz.substr(0, goodz.find("ElementDataFile = LOCAL\n") + 24);
  Rng rng(9);
  for (int n = 0; n < 500; ++n) garbage.push_back(static_cast<char>(rng.next_u64() & 0xFF));
  test::write_text(dir / "garbage.mha", garbage);
  expect_input_error(dir / "garbage.mha", {"garbage.mha"});
}

TEST(MetaImage, WritingIsAtomic) {
  TempDir dir;
  const auto v = random_volume<std::int16_t>(5);
  write_metaimage(dir / "a.mha", v);
  // No temporary files are left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1);
  EXPECT_THROW(write_metaimage(dir / "no" / "such" / "dir.mha", v), std::runtime_error);
}

}  // namespace
}  // namespace linac
