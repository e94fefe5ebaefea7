// Case folders: writing, reading, and refusing bad ones.
#include "linac/formats/case_folder.hpp"

#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/formats/metaimage.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using test::TempDir;

Case small_case() {
  Grid g;
  g.dims = {16, 12, 8};
  g.spacing_mm = Eigen::Vector3d(2.0, 2.0, 3.0);
  g.origin_mm = Eigen::Vector3d(-15.0, -11.0, -10.5);
  Case c;
  c.name = "small";
  c.patient_position = iec::PatientPosition::kFFS;
  c.ct = ImageHU(g, -1000);
  Mask body(g, 0);
  Mask organ(g, 0);
  for (std::int64_t k = 1; k < 7; ++k) {
    for (std::int64_t j = 1; j < 11; ++j) {
      for (std::int64_t i = 1; i < 15; ++i) {
        body.at(i, j, k) = 1;
        c.ct.at(i, j, k) = 40;
        if (i < 5 && j < 5) organ.at(i, j, k) = 1;
      }
    }
  }
  c.structures = {{"body", "external", body}, {"my organ/1", "organ", organ}};
  c.metadata["seed"] = "7";
  return c;
}

TEST(CaseIo, SavesAndLoadsACaseFolder) {
  TempDir dir;
  const Case c = small_case();
  save_case(c, dir.path());
  const Case back = load_case(dir.path());
  EXPECT_EQ(back.name, "small");
  EXPECT_EQ(back.patient_position, iec::PatientPosition::kFFS);
  EXPECT_EQ(back.ct.data(), c.ct.data());
  ASSERT_EQ(back.structures.size(), 2u);
  EXPECT_EQ(back.get("my organ/1").mask.data(), c.get("my organ/1").mask.data());
  EXPECT_EQ(count_voxels(back.get("body").mask), 14u * 10u * 6u);
  EXPECT_EQ(back.metadata.at("seed"), "7");
  EXPECT_TRUE(std::filesystem::exists(dir / "my_organ_1.mha"));
}

std::string load_error(const std::filesystem::path& dir) {
  try {
    (void)load_case(dir);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CaseIo, RefusesBadCaseFolders) {
  TempDir dir;
  save_case(small_case(), dir.path());
  const std::string json = test::read_text(dir / "case.json");

  EXPECT_NE(load_error(dir / "nowhere").find("no such folder"), std::string::npos);

  test::write_text(dir / "case.json", json.substr(0, json.size() / 2));
  const auto bad_json = load_error(dir.path());
  EXPECT_NE(bad_json.find("case.json: bad JSON at byte"), std::string::npos) << bad_json;

  std::string escaping = json;
  escaping.replace(escaping.find("\"ct.mha\""), 8, "\"../ct.mha\"");
  test::write_text(dir / "case.json", escaping);
  EXPECT_NE(load_error(dir.path()).find("inside the case folder"), std::string::npos);

  test::write_text(dir / "case.json", json);
  std::filesystem::remove(dir / "body.mha");
  const auto missing = load_error(dir.path());
  EXPECT_NE(missing.find("body.mha: no such file"), std::string::npos) << missing;

  // A mask on another grid.
  save_case(small_case(), dir.path());
  Grid other = small_case().ct.grid();
  other.dims[0] = 20;
  write_metaimage(dir / "body.mha", Mask(other, 1));
  EXPECT_NE(load_error(dir.path()).find("differs from the CT grid"), std::string::npos);

  // Unknown structure names the ones that exist.
  const Case c = small_case();
  try {
    (void)c.get("liver");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("unknown structure 'liver' (the case has: body, my organ/1)"),
        std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace linac
