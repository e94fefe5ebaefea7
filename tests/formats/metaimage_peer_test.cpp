// MetaImage files exchanged with peer tools: plastimatch and elastix (transformix).
#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "linac/core/transform.hpp"
#include "linac/formats/metaimage.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using Eigen::Vector3d;
using test::TempDir;

// Setup (scripts/setup) installs both tools; their absence is a failure, not a skip.
void require_tool(const char* name) {
  ASSERT_TRUE(test::on_path(name)) << name << " not found: run scripts/setup";
}

std::vector<double> numbers_after(const std::string& text, const std::string& key) {
  std::smatch m;
  const std::regex re(key + R"(\s*=?\s*([^\n]*))");
  if (!std::regex_search(text, m, re)) return {};
  std::istringstream is(m[1].str());
  std::vector<double> out;
  double v = 0.0;
  while (is >> v) out.push_back(v);
  return out;
}

TEST(MetaImagePeers, ReadsAPlastimatchSyntheticSphereOnARotatedGrid) {
  require_tool("plastimatch");
  TempDir dir;
  const auto path = dir / "sphere.mha";
  const auto r = test::run({"plastimatch",
                            "synth",
                            "--pattern",
                            "sphere",
                            "--output",
                            path.string(),
                            "--dim",
                            "20 30 40",
                            "--spacing",
                            "1 2 3",
                            "--origin",
                            "-5 10 20",
                            "--direction-cosines",
                            "rotated-1",
                            "--background",
                            "-1000",
                            "--foreground",
                            "100",
                            "--center",
                            "17 32 80",
                            "--radius",
                            "6",
                            "--output-type",
                            "short"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto v = read_metaimage<std::int16_t>(path);
  const Grid& g = v.grid();
  EXPECT_EQ(g.dims, (Index3{20, 30, 40}));
  EXPECT_LT((g.spacing_mm - Vector3d(1, 2, 3)).norm(), 1e-9);
  EXPECT_LT((g.origin_mm - Vector3d(-5, 10, 20)).norm(), 1e-9);
  // Our direction cosines must agree with where plastimatch put the sphere.
  int inside = 0;
  for (std::size_t n = 0; n < v.size(); ++n) {
    const Index3 ijk = g.index_of(n);
    const Vector3d p = g.index_to_world_mm(Vector3d(
        static_cast<double>(ijk[0]), static_cast<double>(ijk[1]), static_cast<double>(ijk[2])));
    const double d = (p - Vector3d(17, 32, 80)).norm();
    if (d < 5.5) {
      ASSERT_EQ(v[n], 100) << "voxel " << n << " at " << d << " mm from the centre";
      ++inside;
    } else if (d > 6.5) {
      ASSERT_EQ(v[n], -1000) << "voxel " << n << " at " << d << " mm from the centre";
    }
  }
  EXPECT_GT(inside, 50);
  // And plastimatch reports the same direction matrix.
  const auto h = test::run({"plastimatch", "header", path.string()});
  const auto dir_pm = numbers_after(h.out, "Direction");
  ASSERT_EQ(dir_pm.size(), 9u) << h.out;
  for (int row = 0; row < 3; ++row) {
    for (int col = 0; col < 3; ++col) {
      EXPECT_NEAR(g.direction(row, col), dir_pm[row * 3 + col], 1e-4);
    }
  }
}

TEST(MetaImagePeers, PlastimatchReadsOurFiles) {
  require_tool("plastimatch");
  TempDir dir;
  Grid g;
  g.dims = {24, 20, 16};
  g.spacing_mm = Vector3d(1.25, 0.75, 2.5);
  g.origin_mm = Vector3d(-10.0, 5.5, -30.0);
  g.direction = RigidTransform::from_euler_deg({0, 0, 30}, Vector3d::Zero()).rotation();
  Mask m(g, 0);
  std::size_t nonzero = 0;
  for (std::int64_t k = 4; k < 12; ++k) {
    for (std::int64_t j = 3; j < 9; ++j) {
      for (std::int64_t i = 2; i < 7; ++i) m.at(i, j, k) = 1, ++nonzero;
    }
  }
  for (const bool compress : {false, true}) {
    const auto path = dir / (compress ? "mask_z.mha" : "mask.mha");
    write_metaimage(path, m, {compress});
    const auto stats = test::run({"plastimatch", "stats", path.string()});
    ASSERT_EQ(stats.exit_code, 0) << stats.err;
    const auto nz = numbers_after(stats.out, "NONZERO");
    ASSERT_FALSE(nz.empty()) << stats.out;
    EXPECT_EQ(static_cast<std::size_t>(nz[0]), nonzero);
    EXPECT_EQ(static_cast<std::size_t>(numbers_after(stats.out, "NUMVOX").at(0)), g.voxel_count());
    const auto header = test::run({"plastimatch", "header", path.string()});
    const auto origin = numbers_after(header.out, "Origin");
    const auto spacing = numbers_after(header.out, "Spacing");
    const auto direction = numbers_after(header.out, "Direction");
    ASSERT_EQ(origin.size(), 3u) << header.out;
    ASSERT_EQ(direction.size(), 9u) << header.out;
    for (int a = 0; a < 3; ++a) {
      EXPECT_NEAR(origin[a], g.origin_mm[a], 1e-3);
      EXPECT_NEAR(spacing[a], g.spacing_mm[a], 1e-3);
      for (int c = 0; c < 3; ++c) EXPECT_NEAR(direction[a * 3 + c], g.direction(a, c), 1e-3);
    }
  }
}

TEST(MetaImagePeers, TransformixReadsOursAndWritesCompressedFilesWeRead) {
  require_tool("transformix");
  TempDir dir;
  Grid g;
  g.dims = {21, 18, 15};
  g.spacing_mm = Vector3d(1.5, 2.0, 2.5);
  g.origin_mm = Vector3d(-15.0, -17.0, 40.0);
  ImageHU ct(g);
  for (std::size_t n = 0; n < ct.size(); ++n)
    ct[n] = static_cast<std::int16_t>((n * 37) % 2000 - 1000);
  write_metaimage(dir / "in.mha", ct, {true});
  // An identity transform with order-0 (nearest) resampling onto the same grid.
  std::ostringstream tp;
  tp << "(Transform \"TranslationTransform\")\n(NumberOfParameters 3)\n"
     << "(TransformParameters 0 0 0)\n(InitialTransformParametersFileName \"NoInitialTransform\")\n"
     << "(HowToCombineTransforms \"Compose\")\n(FixedImageDimension 3)\n(MovingImageDimension 3)\n"
     << "(FixedInternalImagePixelType \"float\")\n(MovingInternalImagePixelType \"float\")\n"
     << "(Size 21 18 15)\n(Index 0 0 0)\n(Spacing 1.5 2.0 2.5)\n(Origin -15 -17 40)\n"
     << "(Direction 1 0 0 0 1 0 0 0 1)\n(UseDirectionCosines \"true\")\n"
     << "(ResampleInterpolator \"FinalBSplineInterpolator\")\n(FinalBSplineInterpolationOrder 0)\n"
     << "(Resampler \"DefaultResampler\")\n(DefaultPixelValue -1000)\n(ResultImageFormat \"mha\")\n"
     << "(ResultImagePixelType \"short\")\n(CompressResultImage \"true\")\n";
  test::write_text(dir / "tp.txt", tp.str());
  const auto r = test::run({"transformix", "-in", (dir / "in.mha").string(), "-out",
                            dir.path().string(), "-tp", (dir / "tp.txt").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto h = read_metaimage_header(dir / "result.mha");
  EXPECT_TRUE(h.compressed);
  const auto back = read_metaimage<std::int16_t>(dir / "result.mha");
  EXPECT_TRUE(back.grid().same_as(g, 1e-6));
  EXPECT_EQ(back.data(), ct.data());
}

}  // namespace
}  // namespace linac
