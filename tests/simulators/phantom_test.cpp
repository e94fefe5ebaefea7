// The built-in patient: anatomy, volumes, CT numbers, determinism.
#include "linac/simulators/phantom.hpp"

#include <gtest/gtest.h>

#include <map>

#include "linac/core/mask.hpp"

namespace linac::sim {
namespace {

// The default patient, built once for the suite.
const Case& default_patient() {
  static const Case c = make_builtin_patient();
  return c;
}

std::uint64_t fnv1a(const void* data, std::size_t bytes, std::uint64_t h = 1469598103934665603ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t n = 0; n < bytes; ++n) h = (h ^ p[n]) * 1099511628211ULL;
  return h;
}

double mean_hu(const Case& c, const Mask& m) {
  double sum = 0.0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] != 0) sum += c.ct[i], ++n;
  }
  return sum / static_cast<double>(n);
}

TEST(BuiltinPatient, LiverIs3593CubicCentimetresWithMetastasesReplacingAboutHalf) {
  const Case& c = default_patient();
  const double liver = volume_cm3(c.get("liver").mask);
  EXPECT_NEAR(liver, 3593.0, 0.02 * 3593.0);
  EXPECT_NEAR(liver, 3593.0, 1.0);  // the generator hits the target to a voxel or two
  const Mask& gtv = c.get("GTV").mask;
  const double fraction = volume_cm3(gtv) / liver;
  EXPECT_GT(fraction, 0.40);
  EXPECT_LT(fraction, 0.60);
  // Every metastasis lies inside the liver.
  EXPECT_EQ(count_voxels(mask_difference(gtv, c.get("liver").mask)), 0u);
  EXPECT_GE(std::stoi(c.metadata.at("metastases")), 100);
}

TEST(BuiltinPatient, OrgansAreDisjointAndOfAdultSize) {
  const Case& c = default_patient();
  const std::map<std::string, std::pair<double, double>> plausible_cm3 = {
      {"body", {12000.0, 30000.0}},     {"kidney_left", {100.0, 250.0}},
      {"kidney_right", {100.0, 250.0}}, {"stomach", {150.0, 1000.0}},
      {"duodenum", {30.0, 200.0}},      {"bowel", {500.0, 3000.0}},
      {"spinal_cord", {10.0, 60.0}},    {"heart", {100.0, 800.0}},
      {"lung_left", {150.0, 1500.0}},   {"lung_right", {150.0, 1500.0}}};
  for (const auto& [name, range] : plausible_cm3) {
    const double v = volume_cm3(c.get(name).mask);
    EXPECT_GE(v, range.first) << name;
    EXPECT_LE(v, range.second) << name;
  }
  const Mask& body = c.get("body").mask;
  for (const auto& s : c.structures) {
    if (s.name == "body") continue;
    EXPECT_EQ(count_voxels(mask_difference(s.mask, body)), 0u) << s.name << " leaves the body";
    for (const auto& t : c.structures) {
      if (&s >= &t || t.name == "body" || s.name == "GTV" || t.name == "GTV") continue;
      EXPECT_EQ(count_voxels(mask_intersection(s.mask, t.mask)), 0u) << s.name << " x " << t.name;
    }
  }
}

TEST(BuiltinPatient, AnatomyIsWhereItBelongs) {
  const Case& c = default_patient();
  const auto liver = centroid_mm(c.get("liver").mask);
  const auto kl = centroid_mm(c.get("kidney_left").mask);
  const auto kr = centroid_mm(c.get("kidney_right").mask);
  const auto cord = centroid_mm(c.get("spinal_cord").mask);
  const auto heart = centroid_mm(c.get("heart").mask);
  EXPECT_LT(liver.x(), 0.0);  // patient's right (LPS: -x)
  EXPECT_GT(kl.x(), 40.0);    // left kidney on the left
  EXPECT_LT(kr.x(), -40.0);
  EXPECT_GT(kl.y(), liver.y());     // kidneys posterior to the liver
  EXPECT_GT(cord.y(), kl.y());      // cord behind the kidneys
  EXPECT_GT(heart.z(), liver.z());  // heart above the liver
  EXPECT_NEAR(cord.x(), 0.0, 2.0);
}

TEST(BuiltinPatient, CtNumbersPerTissue) {
  const Case& c = default_patient();
  const Mask parenchyma = mask_difference(c.get("liver").mask, c.get("GTV").mask);
  EXPECT_NEAR(mean_hu(c, parenchyma), 60.0, 6.0);
  EXPECT_NEAR(mean_hu(c, c.get("GTV").mask), 30.0, 8.0);  // hypodense
  EXPECT_LT(mean_hu(c, c.get("lung_left").mask), -700.0);
  EXPECT_NEAR(mean_hu(c, c.get("kidney_left").mask), 32.0, 8.0);
  EXPECT_EQ(c.ct.at(0, 0, 0) <= -990, true);  // air in the corner
  const auto& g = c.ct.grid();
  EXPECT_NEAR(g.spacing_mm.x(), 2.5, 1e-12);
  EXPECT_GE(g.extent_mm().z(), 300.0);  // thorax base to pelvis top
}

TEST(BuiltinPatient, IsDeterministicAndPinned) {
  const Case again = make_builtin_patient();
  const Case& c = default_patient();
  EXPECT_EQ(again.ct.data(), c.ct.data());
  std::uint64_t h = fnv1a(c.ct.data().data(), c.ct.size() * sizeof(std::int16_t));
  for (const auto& s : c.structures) {
    EXPECT_EQ(again.get(s.name).mask.data(), s.mask.data()) << s.name;
    h = fnv1a(s.mask.data().data(), s.mask.size(), h);
  }
  // The default patient never changes unnoticed: voxel counts and a hash of every voxel.
  const std::map<std::string, std::size_t> pinned = {
      {"body", 1294128},       {"liver", 229952},  {"GTV", 114989},      {"kidney_left", 8686},
      {"kidney_right", 10513}, {"stomach", 20280}, {"duodenum", 5288},   {"bowel", 73990},
      {"spinal_cord", 1548},   {"heart", 19324},   {"lung_left", 31932}, {"lung_right", 33990}};
  for (const auto& [name, voxels] : pinned)
    EXPECT_EQ(count_voxels(c.get(name).mask), voxels) << name;
  EXPECT_EQ(h, 6768339320745745285ULL);
}

TEST(BuiltinPatient, SeedsMakeVariantsWithTheSameLiverVolume) {
  PhantomOptions o;
  o.seed = 99;
  const Case v = make_builtin_patient(o);
  EXPECT_NEAR(volume_cm3(v.get("liver").mask), 3593.0, 0.02 * 3593.0);
  EXPECT_NE(v.get("GTV").mask.data(), default_patient().get("GTV").mask.data());
}

TEST(BuiltinPatient, CoarseGridsKeepTheVolumes) {
  PhantomOptions o;
  o.spacing_mm = 5.0;
  const Case v = make_builtin_patient(o);
  EXPECT_NEAR(v.ct.grid().spacing_mm.x(), 5.0, 1e-12);
  EXPECT_NEAR(volume_cm3(v.get("liver").mask), 3593.0, 0.02 * 3593.0);
  EXPECT_NEAR(volume_cm3(v.get("kidney_left").mask),
              volume_cm3(default_patient().get("kidney_left").mask), 25.0);
  o.spacing_mm = 0.0;
  EXPECT_THROW((void)make_builtin_patient(o), std::invalid_argument);
}

}  // namespace
}  // namespace linac::sim
