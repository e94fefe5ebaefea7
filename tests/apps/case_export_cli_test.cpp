// `linac case export`: a case folder as a DICOM CT series and RT Structure Set that dciodvfy
// passes and plastimatch reads back with the same CT and the same structures; bad input refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "linac/formats/case_folder.hpp"
#include "linac/formats/metaimage.hpp"
#include "test_support.hpp"

namespace linac {
namespace {

using nlohmann::json;
const std::string kLinac = LINAC_EXE;

// Every "Error" line of dciodvfy's report on `file`.
std::vector<std::string> dciodvfy_errors(const std::filesystem::path& file) {
  const auto r = test::run({"/usr/bin/dciodvfy", file.string()});
  const std::string report = r.out + r.err;
  std::vector<std::string> errors;
  std::size_t from = 0;
  while ((from = report.find("Error", from)) != std::string::npos) {
    errors.push_back(report.substr(from, report.find('\n', from) - from));
    ++from;
  }
  return errors;
}

TEST(CliCaseExport, DciodvfyPassesItAndPlastimatchReadsTheSameCaseBack) {
  test::TempDir dir;
  ASSERT_EQ(
      test::run({kLinac, "case", "make", "--out", (dir / "case").string(), "--spacing-mm", "5"})
          .exit_code,
      0);
  const auto r =
      test::run({kLinac, "case", "export", (dir / "case").string(), "--out", (dir / "dcm").string(),
                 "--patient-id", "P-0005", "--patient-name", "Doe^Jane", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  const Case c = load_case(dir / "case");
  EXPECT_EQ(j["ct_slices"], c.ct.grid().dims[2]);
  EXPECT_EQ(j["structures"], c.structures.size());

  for (const auto* name : {"CT.0001.dcm", "CT.0033.dcm", "RS.dcm"}) {
    const auto errors = dciodvfy_errors(dir / "dcm" / name);
    EXPECT_TRUE(errors.empty()) << name << ": " << errors.front();
  }

  const auto p = test::run({"/usr/bin/plastimatch", "convert", "--input", (dir / "dcm").string(),
                            "--output-img", (dir / "pl" / "ct.mha").string(), "--output-prefix",
                            (dir / "pl").string()});
  ASSERT_EQ(p.exit_code, 0) << p.err;
  const auto ct = read_metaimage<float>(dir / "pl" / "ct.mha");
  ASSERT_EQ(ct.grid().dims, c.ct.grid().dims);
  EXPECT_TRUE(ct.grid().origin_mm.isApprox(c.ct.grid().origin_mm, 1e-4));
  for (std::size_t n = 0; n < ct.size(); n += 997) {
    ASSERT_EQ(ct[n], static_cast<float>(c.ct[n])) << n;
  }
  for (const auto& s : c.structures) {
    const auto back = read_metaimage<std::uint8_t>(dir / "pl" / (s.name + ".mha"));
    std::size_t ours = 0;
    std::size_t theirs = 0;
    for (std::size_t n = 0; n < back.size(); ++n) {
      ours += s.mask[n] != 0 ? 1 : 0;
      theirs += back[n] != 0 ? 1 : 0;
    }
    EXPECT_NEAR(static_cast<double>(theirs), static_cast<double>(ours), 0.01 * ours) << s.name;
  }
}

// The other direction: a CT series and RT Structure Set that plastimatch writes from a case's
// images import back with the same grid, the same HU and the same structure volumes.
TEST(CliCaseImport, ReadsAPatientThatPlastimatchWroteAsDicom) {
  test::TempDir dir;
  ASSERT_EQ(
      test::run({kLinac, "case", "make", "--out", (dir / "case").string(), "--spacing-mm", "5"})
          .exit_code,
      0);
  const Case c = load_case(dir / "case");
  std::filesystem::create_directories(dir / "masks");
  for (const auto& s : c.structures) write_metaimage(dir / "masks" / (s.name + ".mha"), s.mask);
  const auto p = test::run({"/usr/bin/plastimatch", "convert", "--input",
                            (dir / "case" / "ct.mha").string(), "--input-prefix",
                            (dir / "masks").string(), "--output-dicom", (dir / "pl").string()});
  ASSERT_EQ(p.exit_code, 0) << p.err;

  const auto info = test::run({kLinac, "info", (dir / "pl").string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const json listed = json::parse(info.out);
  ASSERT_EQ(listed["series"].size(), 2u);
  std::map<std::string, int> objects;
  for (const auto& s : listed["series"]) objects[s["modality"]] = s["objects"];
  EXPECT_EQ(objects["CT"], c.ct.grid().dims[2]);
  EXPECT_EQ(objects["RTSTRUCT"], 1);

  const auto r = test::run(
      {kLinac, "case", "import", (dir / "pl").string(), "--out", (dir / "imported").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Case back = load_case(dir / "imported");
  EXPECT_EQ(back.ct.grid().dims, c.ct.grid().dims);
  EXPECT_TRUE(back.ct.grid().origin_mm.isApprox(c.ct.grid().origin_mm, 1e-3));
  EXPECT_TRUE(back.ct.grid().spacing_mm.isApprox(c.ct.grid().spacing_mm, 1e-6));
  EXPECT_EQ(back.ct.data(), c.ct.data());
  ASSERT_EQ(back.structures.size(), c.structures.size());
  for (const auto& s : c.structures) {
    const Structure* b = back.find(s.name);
    ASSERT_NE(b, nullptr) << s.name;
    std::size_t ours = 0;
    std::size_t theirs = 0;
    for (std::size_t n = 0; n < s.mask.size(); ++n) {
      ours += s.mask[n] != 0 ? 1 : 0;
      theirs += b->mask[n] != 0 ? 1 : 0;
    }
    EXPECT_NEAR(static_cast<double>(theirs), static_cast<double>(ours), 0.01 * ours) << s.name;
  }
  // Commands that take a case take the DICOM folder as well (here: export it again).
  const auto again = test::run({kLinac, "case", "export", (dir / "pl").string(), "--out",
                                (dir / "again").string(), "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["structures"], c.structures.size());
  // A folder with no CT, and a case folder in the way, are refused; nothing is written.
  const auto none = test::run(
      {kLinac, "case", "import", (dir / "masks").string(), "--out", (dir / "none").string()});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("no CT series found"), std::string::npos) << none.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "none"));
  const auto used = test::run(
      {kLinac, "case", "import", (dir / "pl").string(), "--out", (dir / "case").string()});
  EXPECT_EQ(used.exit_code, 2);
}

TEST(CliCaseExport, RefusesAMissingCaseAndAFolderInUse) {
  test::TempDir dir;
  const auto missing = test::run(
      {kLinac, "case", "export", (dir / "nope").string(), "--out", (dir / "dcm").string()});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "dcm"));
  std::filesystem::create_directories(dir / "used");
  test::write_text(dir / "used" / "keep.txt", "a file that must not be lost");
  const auto used = test::run(
      {kLinac, "case", "export", (dir / "nope").string(), "--out", (dir / "used").string()});
  EXPECT_EQ(used.exit_code, 2);
  EXPECT_NE(used.err.find("is not an empty folder"), std::string::npos) << used.err;
  EXPECT_EQ(test::read_text(dir / "used" / "keep.txt"), "a file that must not be lost");
}

}  // namespace
}  // namespace linac
