// `linac igrt recon`: cone-beam CT from projection files another tool wrote — plastimatch `drr`
// of a water cylinder, full fan and half fan, .pfm and .raw — and bad projection sets refused
// with one line naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <tuple>

#include "linac/formats/metaimage.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kLinac = LINAC_EXE;

/// A water cylinder (radius 60 mm, 100 mm long, axis along z) in air, 2 mm voxels; with `rod`,
/// a bone rod off its axis (radius 8 mm at x 35, y -25 mm, |z| < 30 mm) that says where a
/// reconstruction puts things.
void write_water_cylinder(const fs::path& path, bool rod = false) {
  Grid g;
  g.dims = {100, 100, 60};
  g.spacing_mm = Eigen::Vector3d(2.0, 2.0, 2.0);
  g.origin_mm = Eigen::Vector3d(-99.0, -99.0, -59.0);
  ImageHU ct(g, -1000);
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        if (std::hypot(p.x(), p.y()) <= 60.0 && std::abs(p.z()) <= 50.0) ct.at(i, j, k) = 0;
        if (rod && std::hypot(p.x() - 35.0, p.y() + 25.0) <= 8.0 && std::abs(p.z()) < 30.0) {
          ct.at(i, j, k) = 1000;
        }
      }
    }
  }
  write_metaimage(path, ct);
}

/// plastimatch drr: `angles` projections `step` degrees apart, a 96 x 48 panel of 300 x 150 mm
/// (plastimatch's "row col": 96 pixels across the orbit), SAD 1000, SID 1500.
void drr(const fs::path& ct, const fs::path& out, const std::string& format, int angles,
         double step, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> cmd = {"/usr/bin/plastimatch",
                                  "drr",
                                  "-t",
                                  format,
                                  "-a",
                                  std::to_string(angles),
                                  "-N",
                                  std::to_string(step),
                                  "--sad",
                                  "1000",
                                  "--sid",
                                  "1500",
                                  "-r",
                                  "96 48",
                                  "-z",
                                  "300 150",
                                  "-I",
                                  ct.string(),
                                  "-O",
                                  (out / "drr").string()};
  cmd.insert(cmd.end(), extra.begin(), extra.end());
  const auto r = test::run(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

struct Quality {
  double water_hu = 0.0;  // mean inside radius 45 mm, |z| < 30 mm
  double air_hu = 0.0;    // mean between radii 75 and 95 mm
};

Quality quality_of(const fs::path& image) {
  const auto img = read_metaimage<std::int16_t>(image);
  const Grid& g = img.grid();
  double water = 0.0, air = 0.0;
  int nw = 0, na = 0;
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        const double r = std::hypot(p.x(), p.y());
        if (std::abs(p.z()) >= 30.0) continue;
        if (r < 45.0) {
          water += img.at(i, j, k);
          ++nw;
        } else if (r > 75.0 && r < 95.0) {
          air += img.at(i, j, k);
          ++na;
        }
      }
    }
  }
  return {water / std::max(1, nw), air / std::max(1, na)};
}

json recon(const fs::path& projections, const fs::path& out) {
  const auto r = test::run({kLinac, "igrt", "recon", projections.string(), "--out", out.string(),
                            "--size", "64,64,30", "--extent-mm", "200,200,90", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out) : json{};
}

TEST(CliIgrtRecon, ReconstructsPlastimatchDrrProjectionsFullAndHalfFan) {
  test::TempDir dir;
  write_water_cylinder(dir / "water.mha");
  drr(dir / "water.mha", dir / "pfm", "pfm", 90, 4.0);
  drr(dir / "water.mha", dir / "raw", "raw", 90, 4.0);
  // The panel offset across the orbit: the central ray 27.5 pixels from its middle.
  drr(dir / "water.mha", dir / "half", "pfm", 90, 4.0, {"-c", "20 23.5"});

  const json full = recon(dir / "pfm", dir / "full.mha");
  EXPECT_EQ(full["projections"], 90);
  EXPECT_NEAR(full["arc_deg"].get<double>(), 360.0, 0.01);
  EXPECT_FALSE(full["half_fan"].get<bool>());
  // The stages' times: filtering and back-projection within the reconstruction, within the total.
  const auto& secs = full["seconds"];
  EXPECT_GT(secs["filter"].get<double>(), 0.0);
  EXPECT_GT(secs["back_project"].get<double>(), 0.0);
  EXPECT_LE(secs["filter"].get<double>() + secs["back_project"].get<double>(),
            secs["reconstruct"].get<double>());
  EXPECT_LE(secs["read"].get<double>() + secs["reconstruct"].get<double>(),
            secs["total"].get<double>());
  EXPECT_NEAR(full["geometry"]["pixel_pitch_mm"].get<double>(), 300.0 / 96.0, 0.01);
  const Quality q = quality_of(dir / "full.mha");
  std::printf("full fan: water %.1f HU, air %.1f HU\n", q.water_hu, q.air_hu);
  EXPECT_NEAR(q.water_hu, 0.0, 25.0);
  EXPECT_NEAR(q.air_hu, -1000.0, 60.0);

  // The same projections as .raw (no size of their own: taken from the image centre).
  (void)recon(dir / "raw", dir / "from_raw.mha");
  const auto a = read_metaimage<std::int16_t>(dir / "full.mha");
  const auto b = read_metaimage<std::int16_t>(dir / "from_raw.mha");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t n = 0; n < a.size(); ++n) ASSERT_EQ(a[n], b[n]) << n;

  const json half = recon(dir / "half", dir / "half.mha");
  EXPECT_TRUE(half["half_fan"].get<bool>());
  EXPECT_NEAR(std::abs(half["geometry"]["panel_offset_mm"].get<double>()), 27.5 * 300.0 / 96.0,
              0.05);
  // --measured-out: the voxels every projection saw, on the CBCT's grid (for igrt register
  // --moving-mask); the central slice is measured throughout.
  const auto with_mask =
      test::run({kLinac, "igrt", "recon", (dir / "half").string(), "--out",
                 (dir / "half2.mha").string(), "--size", "64,64,30", "--extent-mm", "200,200,90",
                 "--measured-out", (dir / "measured.mha").string(), "--json"});
  ASSERT_EQ(with_mask.exit_code, 0) << with_mask.err;
  EXPECT_EQ(json::parse(with_mask.out)["measured_out"], (dir / "measured.mha").string());
  const auto measured = read_metaimage<std::uint8_t>(dir / "measured.mha");
  const auto half_image = read_metaimage<std::int16_t>(dir / "half2.mha");
  ASSERT_TRUE(measured.grid().same_as(half_image.grid()));
  for (std::int64_t j = 0; j < 64; ++j) {
    for (std::int64_t i = 0; i < 64; ++i) ASSERT_EQ(measured.at(i, j, 15), 1) << i << "," << j;
  }
  const Quality h = quality_of(dir / "half.mha");
  std::printf("half fan: water %.1f HU, air %.1f HU\n", h.water_hu, h.air_hu);
  EXPECT_NEAR(h.water_hu, 0.0, 25.0);
  EXPECT_NEAR(h.air_hu, -1000.0, 60.0);
}

/// Centroid (x, y in mm) of the voxels of |z| < 20 mm above `level`.
Eigen::Vector2d centroid_above(const Volume<float>& img, double level) {
  const Grid& g = img.grid();
  Eigen::Vector2d sum = Eigen::Vector2d::Zero();
  double n = 0.0;
  for (std::int64_t k = 0; k < g.dims[2]; ++k) {
    for (std::int64_t j = 0; j < g.dims[1]; ++j) {
      for (std::int64_t i = 0; i < g.dims[0]; ++i) {
        const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(
            static_cast<double>(i), static_cast<double>(j), static_cast<double>(k)));
        if (std::abs(p.z()) < 20.0 && static_cast<double>(img.at(i, j, k)) > level) {
          sum += p.head<2>();
          n += 1.0;
        }
      }
    }
  }
  return n > 0.0 ? Eigen::Vector2d(sum / n) : Eigen::Vector2d(1e9, 1e9);
}

Volume<float> as_float(const fs::path& image) {
  const auto img = read_metaimage<std::int16_t>(image);
  return img.map<float>([](std::int16_t v) { return static_cast<float>(v); });
}

TEST(CliIgrtRecon, ReadsVarianHndProjectionsAsPlastimatchDoes) {
  test::TempDir dir;
  write_water_cylinder(dir / "rod.mha", true);
  // A 128 x 96 panel of 400 x 300 mm at SID 1500: the panel plastimatch assumes for a .hnd.
  const auto r = test::run({"/usr/bin/plastimatch",
                            "drr",
                            "-t",
                            "raw",
                            "-a",
                            "90",
                            "-N",
                            "4",
                            "--sad",
                            "1000",
                            "--sid",
                            "1500",
                            "-r",
                            "128 96",
                            "-z",
                            "400 300",
                            "-I",
                            (dir / "rod.mha").string(),
                            "-O",
                            (dir / "raw" / "drr").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The same projections as a Varian OBI scan's .hnd files (counts of 139,000 unattenuated;
  // the script checks that a .hnd header's geometry is the drr's).
  const auto h = test::run({"/usr/bin/python3", LINAC_SOURCE_DIR "/tests/data/make_hnd.py",
                            (dir / "raw").string(), (dir / "hnd").string()});
  ASSERT_EQ(h.exit_code, 0) << h.err;
  const std::vector<std::string> grid = {"--size", "100,100,30", "--extent-mm", "200,200,90"};
  auto ours = [&](const fs::path& from, const fs::path& out) {
    std::vector<std::string> cmd = {kLinac,  "igrt",       "recon", from.string(),
                                    "--out", out.string(), "--json"};
    cmd.insert(cmd.end(), grid.begin(), grid.end());
    const auto run = test::run(cmd);
    EXPECT_EQ(run.exit_code, 0) << run.err;
    return run.exit_code == 0 ? json::parse(run.out) : json{};
  };
  const json from_hnd = ours(dir / "hnd", dir / "hnd.mha");
  EXPECT_EQ(from_hnd["format"], "hnd");
  EXPECT_EQ(from_hnd["projections"], 90);
  EXPECT_NEAR(from_hnd["arc_deg"].get<double>(), 360.0, 0.01);
  EXPECT_NEAR(from_hnd["geometry"]["sid_mm"].get<double>(), 1500.0, 1e-9);  // dSFD 0: 1500
  EXPECT_NEAR(from_hnd["geometry"]["pixel_pitch_mm"].get<double>(), 400.0 / 128.0, 1e-6);
  (void)ours(dir / "raw", dir / "raw.mha");

  // The .hnd set reconstructs as its .raw twin: the same geometry, the counts' rounding aside.
  const auto a = as_float(dir / "hnd.mha");
  const auto b = as_float(dir / "raw.mha");
  ASSERT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (std::size_t n = 0; n < a.size(); ++n) {
    worst = std::max(worst, static_cast<double>(std::abs(a[n] - b[n])));
  }
  EXPECT_LE(worst, 3.0) << "HU";
  // The rod where it is in the phantom.
  const Eigen::Vector2d rod = centroid_above(a, 500.0);
  std::printf("rod from .hnd: %.2f, %.2f mm (phantom 35, -25)\n", rod.x(), rod.y());
  EXPECT_NEAR(rod.x(), 35.0, 1.0);
  EXPECT_NEAR(rod.y(), -25.0, 1.0);

  // plastimatch's own reading of the same .hnd files puts the rod in the same place.
  const auto p = test::run({"/usr/bin/plastimatch", "fdk", "-I", (dir / "hnd").string(), "-O",
                            (dir / "theirs.mha").string(), "-r", "100 100 30", "-z", "200 200 90"});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto theirs = read_metaimage<float>(dir / "theirs.mha");
  float lo = theirs.data().front(), hi = lo;
  for (const float v : theirs.data()) lo = std::min(lo, v), hi = std::max(hi, v);
  const Eigen::Vector2d their_rod =
      centroid_above(theirs, static_cast<double>(lo + 0.75F * (hi - lo)));
  std::printf("rod from plastimatch fdk of the .hnd: %.2f, %.2f mm\n", their_rod.x(),
              their_rod.y());
  EXPECT_NEAR(their_rod.x(), rod.x(), 1.5);
  EXPECT_NEAR(their_rod.y(), rod.y(), 1.5);
}

TEST(CliIgrtRecon, RefusesBadProjectionSetsNamingTheFile) {
  test::TempDir dir;
  write_water_cylinder(dir / "water.mha");
  drr(dir / "water.mha", dir / "set", "pfm", 90, 4.0);
  auto refused = [&](const fs::path& folder, const std::string& message) {
    const auto r = test::run(
        {kLinac, "igrt", "recon", folder.string(), "--out", (dir / "never.mha").string()});
    EXPECT_EQ(r.exit_code, 2) << message;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
    EXPECT_FALSE(fs::exists(dir / "never.mha"));
  };
  auto copy_of = [&](const std::string& name) {
    const fs::path to = dir / name;
    fs::copy(dir / "set", to, fs::copy_options::recursive);
    return to;
  };
  // A geometry file missing.
  const fs::path no_txt = copy_of("no_txt");
  fs::remove(no_txt / "drr0007.txt");
  refused(no_txt, "drr0007.txt: missing: every projection needs its geometry file");
  // Two files bad: the files are read in parallel, the first in file order is the one named.
  fs::remove(no_txt / "drr0003.txt");
  refused(no_txt, "drr0003.txt: missing: every projection needs its geometry file");
  // Five projections missing: a 24-degree gap in a 4-degree set.
  const fs::path gap = copy_of("gap");
  for (int k = 30; k < 35; ++k) {
    char name[32];
    std::snprintf(name, sizeof(name), "drr%04d", k);
    fs::remove(gap / (std::string(name) + ".pfm"));
    fs::remove(gap / (std::string(name) + ".txt"));
  }
  refused(gap, "drr0029.pfm: projections missing: 24 degrees from it to");
  // One image of another size.
  const fs::path sizes = copy_of("sizes");
  const auto r = test::run({"/usr/bin/plastimatch", "drr", "-t", "pfm", "-a", "1", "--sad", "1000",
                            "--sid", "1500", "-r", "64 48", "-z", "200 150", "-I",
                            (dir / "water.mha").string(), "-O", (dir / "odd" / "drr").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::copy_file(dir / "odd" / "drr0000.pfm", sizes / "drr0010.pfm",
                fs::copy_options::overwrite_existing);
  refused(sizes, "drr0010.pfm: 64 x 48 pixels where");
  // Varian .hnd files: too short for a header, a compressed stream cut short, a compression
  // code the format does not have, beside .pfm projections.
  fs::create_directories(dir / "hnd_short");
  test::write_text(dir / "hnd_short" / "Proj_00000.hnd", "not read");
  refused(dir / "hnd_short", "Proj_00000.hnd: 8 bytes: shorter than a .hnd header (1,024 bytes)");
  const auto two = test::run({"/usr/bin/plastimatch", "drr", "-t", "raw", "-a", "2", "--sad",
                              "1000", "--sid", "1500", "-r", "64 48", "-z", "400 300", "-I",
                              (dir / "water.mha").string(), "-O", (dir / "two" / "drr").string()});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const std::string make_hnd = LINAC_SOURCE_DIR "/tests/data/make_hnd.py";
  ASSERT_EQ(
      test::run({"/usr/bin/python3", make_hnd, (dir / "two").string(), (dir / "hnd_cut").string()})
          .exit_code,
      0);
  fs::resize_file(dir / "hnd_cut" / "Proj_00001.hnd",
                  fs::file_size(dir / "hnd_cut" / "Proj_00001.hnd") - 10);
  refused(dir / "hnd_cut", "Proj_00001.hnd: the compressed image ends at pixel");
  ASSERT_EQ(test::run({"/usr/bin/python3", make_hnd, (dir / "two").string(),
                       (dir / "hnd_code3").string(), "--code3"})
                .exit_code,
            0);
  refused(dir / "hnd_code3",
          "Proj_00000.hnd: compression code 3 (not one of the format's) at pixel 69");
  // The .hnd options out of range: refused naming the option, before any file is read.
  for (const auto& [flag, value, message] :
       {std::tuple{"--hnd-i0", "0.5", "--hnd-i0: 0.5 counts is outside (1, 1e9]"},
        std::tuple{"--hnd-i0", "nan", "--hnd-i0: nan counts is outside (1, 1e9]"},
        std::tuple{"--hnd-sid-mm", "-1500", "--hnd-sid-mm: -1500 mm is outside (0, 5000]"},
        std::tuple{"--scatter-kernel", "-0.003,60",
                   "--scatter-kernel: FRACTION must lie in [0, 0.05] and SIGMA_MM in (0, 1000]"},
        std::tuple{"--scatter-kernel", "0.003,0",
                   "--scatter-kernel: FRACTION must lie in [0, 0.05] and SIGMA_MM in (0, 1000]"},
        std::tuple{"--scatter-kernel", "0.003", "--scatter-kernel"}}) {
    const auto bad = test::run({kLinac, "igrt", "recon", (dir / "hnd_cut").string(), "--out",
                                (dir / "never.mha").string(), flag, value});
    EXPECT_EQ(bad.exit_code, 2) << flag;
    EXPECT_NE(bad.err.find(message), std::string::npos) << bad.err;
    EXPECT_FALSE(fs::exists(dir / "never.mha"));
  }
  fs::copy_file(dir / "set" / "drr0000.pfm", dir / "hnd_code3" / "drr0000.pfm");
  refused(dir / "hnd_code3", ".hnd projections beside .raw or .pfm ones: one format per set");
  // No projections in a format it reads.
  fs::create_directories(dir / "empty");
  test::write_text(dir / "empty" / "Proj_00000.xim", "not read");
  refused(dir / "empty", "no projections (.raw or .pfm with their .txt geometry)");
  // .raw images whose image centre is off the middle (an offset panel) do not give their size:
  // refused until --raw-size states it, then read.
  drr(dir / "water.mha", dir / "raw_offset", "raw", 90, 4.0, {"-c", "20 23.5"});
  refused(dir / "raw_offset",
          "drr0000.raw: a raw projection of 18432 bytes whose size its image "
          "centre does not give: state it with --raw-size COLUMNS,ROWS");
  const auto sized = test::run({kLinac, "igrt", "recon", (dir / "raw_offset").string(), "--out",
                                (dir / "sized.mha").string(), "--raw-size", "96,48", "--size",
                                "64,64,30", "--extent-mm", "200,200,90", "--json"});
  ASSERT_EQ(sized.exit_code, 0) << sized.err;
  EXPECT_TRUE(json::parse(sized.out)["half_fan"].get<bool>());
  EXPECT_EQ(json::parse(sized.out)["scatter_kernel"]["fraction"].get<double>(), 0.0);
  // A scatter kernel is taken off when given: projections without scatter come back brighter
  // (the correction removes signal that was primary), and the JSON says which kernel.
  const auto kernel = test::run({kLinac, "igrt", "recon", (dir / "raw_offset").string(), "--out",
                                 (dir / "kernel.mha").string(), "--raw-size", "96,48", "--size",
                                 "64,64,30", "--extent-mm", "200,200,90", "--mu-water-per-mm",
                                 "0.02", "--scatter-kernel", "0.003,60", "--json"});
  ASSERT_EQ(kernel.exit_code, 0) << kernel.err;
  const auto kj = json::parse(kernel.out);
  EXPECT_EQ(kj["scatter_kernel"]["fraction"].get<double>(), 0.003);
  EXPECT_EQ(kj["scatter_kernel"]["sigma_mm"].get<double>(), 60.0);
  EXPECT_NE(read_metaimage<std::int16_t>(dir / "kernel.mha").data(),
            read_metaimage<std::int16_t>(dir / "sized.mha").data());
  EXPECT_EQ(test::run({kLinac, "igrt", "recon", (dir / "raw_offset").string(), "--out",
                       (dir / "never.mha").string(), "--raw-size", "96"})
                .exit_code,
            2);
  // A 76-degree arc: not enough for a reconstruction.
  drr(dir / "water.mha", dir / "short", "pfm", 20, 4.0);
  refused(dir / "short", "a short scan needs 180 degrees plus the fan");
  // A truncated image.
  const fs::path cut = copy_of("cut");
  fs::resize_file(cut / "drr0003.pfm", fs::file_size(cut / "drr0003.pfm") - 100);
  refused(cut, "drr0003.pfm: ");
}

}  // namespace
}  // namespace linac
