// The PNG writer (libpng) read back with libpng's reader: size, colour type and pixels.
#include "linac/formats/image_png.hpp"

#include <gtest/gtest.h>
#include <png.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "test_support.hpp"

namespace linac {
namespace {

struct Decoded {
  int width = 0;
  int height = 0;
  int colour_type = -1;
  std::vector<std::array<int, 3>> rgb;  // row-major
};

Decoded read_png(const std::filesystem::path& path) {
  Decoded d;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_file(&image, path.c_str()) == 0) return d;
  d.width = static_cast<int>(image.width);
  d.height = static_cast<int>(image.height);
  d.colour_type =
      (image.format & PNG_FORMAT_FLAG_COLOR) != 0 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY;
  image.format = PNG_FORMAT_RGB;
  std::vector<png_byte> pixels(PNG_IMAGE_SIZE(image));
  if (png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr) == 0) return {};
  for (std::size_t p = 0; p + 2 < pixels.size(); p += 3) {
    d.rgb.push_back({pixels[p], pixels[p + 1], pixels[p + 2]});
  }
  return d;
}

TEST(ImagePng, MapPixelsReadBackInTheColourMapsColours) {
  test::TempDir dir;
  const auto file = dir / "map.png";
  // 2 x 3 values from the map's minimum to its maximum, each drawn 2 x 2.
  write_map_png(file, 2, 3, {0.0F, 0.5F, 1.0F, 1.0F, 0.0F, 2.0F}, 0.0, 1.0, ColourMap::kViridis, 2);
  const Decoded d = read_png(file);
  ASSERT_EQ(d.width, 6);
  ASSERT_EQ(d.height, 4);
  EXPECT_EQ(d.colour_type, PNG_COLOR_TYPE_RGB);
  auto at = [&](int row, int col) { return d.rgb[static_cast<std::size_t>(row * d.width + col)]; };
  // Viridis runs from dark violet (68, 1, 84) to yellow (253, 231, 37): red and green rise,
  // blue falls; OpenCV's table is within a few levels of matplotlib's.
  const auto low = at(0, 0);
  const auto high = at(0, 4);
  EXPECT_NEAR(low[0], 68, 4);
  EXPECT_NEAR(low[1], 1, 4);
  EXPECT_NEAR(low[2], 84, 4);
  EXPECT_NEAR(high[0], 253, 4);
  EXPECT_NEAR(high[1], 231, 4);
  EXPECT_NEAR(high[2], 37, 4);
  EXPECT_EQ(at(1, 1), low);   // the 2 x 2 block of the first value
  EXPECT_EQ(at(2, 0), high);  // second row, first value: 1.0
  EXPECT_EQ(at(3, 5), high);  // 2.0, clamped to the maximum
  EXPECT_EQ(at(2, 3), low);   // 0.0
  const auto mid = at(0, 2);  // 0.5: between the ends (teal)
  EXPECT_GT(mid[1], low[1] + 50);
  EXPECT_LT(mid[1], high[1] - 50);
}

TEST(ImagePng, RefusesAPathItCannotWrite) {
  test::TempDir dir;
  const auto file = dir / "no_such_folder" / "map.png";
  EXPECT_THROW(write_map_png(file, 1, 1, {0.0F}, 0.0, 1.0, ColourMap::kJet), std::runtime_error);
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST(ImagePng, OrthogonalViewsSliceThroughAPointWithinTheGrid) {
  Grid g;
  g.dims = {10, 8, 6};
  ASSERT_EQ(kOrthogonalViews.size(), 3U);
  EXPECT_EQ(std::string(kOrthogonalViews[0].name), "axial");
  EXPECT_EQ(kOrthogonalViews[0].axis, SliceAxis::kAxial);
  EXPECT_EQ(std::string(kOrthogonalViews[2].name), "sagittal");
  const Eigen::Vector3d inside(4.4, 2.6, 3.5);
  EXPECT_EQ(slice_through(kOrthogonalViews[0], inside, g), 4);  // k, rounded half away
  EXPECT_EQ(slice_through(kOrthogonalViews[1], inside, g), 3);  // j
  EXPECT_EQ(slice_through(kOrthogonalViews[2], inside, g), 4);  // i
  const Eigen::Vector3d outside(-3.0, 20.0, 9.0);  // beyond the grid: its nearest slice
  EXPECT_EQ(slice_through(kOrthogonalViews[0], outside, g), 5);
  EXPECT_EQ(slice_through(kOrthogonalViews[1], outside, g), 7);
  EXPECT_EQ(slice_through(kOrthogonalViews[2], outside, g), 0);
  // Plot colours: ten distinct ones, then round again.
  for (std::size_t a = 0; a < 10; ++a) {
    for (std::size_t b = a + 1; b < 10; ++b) EXPECT_NE(plot_colour(a), plot_colour(b));
  }
  EXPECT_EQ(plot_colour(3), plot_colour(13));
}

}  // namespace
}  // namespace linac
