// A case as DICOM: contours that give the masks back, under both ways readers combine a
// structure's contours; the CT series and structure set as DCMTK reads them back.
#include "linac/formats/dicom_case.hpp"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djencode.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpls/djencode.h>
#include <dcmtk/dcmjpls/djrparam.h>
#include <gtest/gtest.h>

#include "linac/core/error.hpp"
#include "linac/formats/dicom_import.hpp"
#include "test_support.hpp"

namespace linac::formats {
namespace {

// Whether (x, y) lies inside `polygon` (crossing number, as a reader's rasteriser counts).
bool inside(const std::vector<Eigen::Vector3d>& polygon, double x, double y) {
  bool in = false;
  for (std::size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const double xi = polygon[i].x();
    const double yi = polygon[i].y();
    const double xj = polygon[j].x();
    const double yj = polygon[j].y();
    if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) in = !in;
  }
  return in;
}

// A ring (a disc with a hole), an island inside the hole, a one-voxel-wide diagonal line and a
// lone voxel, on one slice of an anisotropic grid with an offset origin.
Mask awkward_mask() {
  Grid g;
  g.dims = {40, 32, 4};
  g.spacing_mm = Eigen::Vector3d(1.5, 2.0, 3.0);
  g.origin_mm = Eigen::Vector3d(-20.0, 7.0, -3.0);
  Mask m(g, 0);
  for (int j = 0; j < 32; ++j) {
    for (int i = 0; i < 40; ++i) {
      const double r = std::hypot(i - 15.0, j - 15.0);
      const bool ring = r <= 12.0 && r > 7.0;
      const bool island = r <= 3.0;
      const bool line = i >= 30 && i - 30 == j - 2 && j < 12;
      if (ring || island || line) m.at(i, j, 1) = 1;
    }
  }
  m.at(38, 30, 1) = 1;
  return m;
}

TEST(DicomCase, ContoursGiveTheMaskBackUnderOrAndXor) {
  const Mask m = awkward_mask();
  const Grid& g = m.grid();
  EXPECT_TRUE(mask_slice_contours(m, 0).empty());
  const auto contours = mask_slice_contours(m, 1);
  // The ring and its hole are one keyhole polygon; the island, the line, the lone voxel: 4.
  ASSERT_EQ(contours.size(), 4u);
  int voxels = 0;
  for (int j = 0; j < 32; ++j) {
    for (int i = 0; i < 40; ++i) {
      const Eigen::Vector3d p = g.index_to_world_mm(Eigen::Vector3d(i, j, 1));
      int in = 0;
      for (const auto& c : contours) {
        EXPECT_DOUBLE_EQ(c.front().z(), p.z());
        in += inside(c, p.x(), p.y()) ? 1 : 0;
      }
      EXPECT_LE(in, 1) << i << "," << j;  // no overlaps: OR and XOR agree
      EXPECT_EQ(in == 1, m.at(i, j, 1) != 0) << i << "," << j;
      voxels += m.at(i, j, 1);
    }
  }
  EXPECT_GT(voxels, 250);
}

TEST(DicomCase, WritesACtSeriesAndAStructureSetInOneStudy) {
  test::TempDir dir;
  Case c;
  c.name = "phantom-01";
  const Mask m = awkward_mask();
  c.ct = ImageHU(m.grid(), -1000);
  for (std::size_t n = 0; n < m.size(); ++n)
    c.ct[n] = m[n] ? static_cast<std::int16_t>(-35) : -1000;
  c.ct[5] = 3071;
  c.structures.push_back({"ring", "organ", m});
  c.structures.push_back({"PTV_high", "target", m});
  const auto files = write_dicom_case(c, dir.path() / "dcm");
  ASSERT_EQ(files.ct_slices.size(), 4u);
  EXPECT_EQ(files.contours, 8);
  EXPECT_EQ(files.ids.patient_id, "phantom-01");

  DcmFileFormat ct;
  ASSERT_TRUE(ct.loadFile(files.ct_slices[0].c_str()).good());
  DcmDataset* d = ct.getDataset();
  OFString v;
  ASSERT_TRUE(d->findAndGetOFStringArray(DCM_ImagePositionPatient, v).good());
  EXPECT_EQ(v, "-20\\7\\-3");
  ASSERT_TRUE(d->findAndGetOFString(DCM_FrameOfReferenceUID, v).good());
  EXPECT_EQ(std::string(v.c_str()), files.ids.frame_of_reference_uid);
  Sint16 first = 0;
  const Uint16* pixels = nullptr;
  ASSERT_TRUE(d->findAndGetUint16Array(DCM_PixelData, pixels).good());
  first = static_cast<Sint16>(pixels[5]);
  EXPECT_EQ(first, 3071);

  DcmFileFormat rs;
  ASSERT_TRUE(rs.loadFile(files.structure_set.c_str()).good());
  DcmDataset* r = rs.getDataset();
  ASSERT_TRUE(r->findAndGetOFString(DCM_StudyInstanceUID, v).good());
  EXPECT_EQ(std::string(v.c_str()), files.ids.study_instance_uid);
  ASSERT_TRUE(r->findAndGetOFString(DCM_SOPInstanceUID, v).good());
  EXPECT_EQ(std::string(v.c_str()), files.ids.structure_set_sop_instance_uid);
  DcmItem* obs = nullptr;
  ASSERT_TRUE(r->findAndGetSequenceItem(DCM_RTROIObservationsSequence, obs, 1).good());
  ASSERT_TRUE(obs->findAndGetOFString(DCM_RTROIInterpretedType, v).good());
  EXPECT_EQ(v, "PTV");

  Case other = c;
  Grid shifted = m.grid();
  shifted.origin_mm.x() += 1.0;
  other.structures[1].mask = Mask(shifted, 0);
  EXPECT_THROW((void)write_dicom_case(other, dir.path() / "bad"), InputError);
}

Case small_case(const std::string& name) {
  Case c;
  c.name = name;
  c.patient_position = iec::PatientPosition::kFFS;
  const Mask m = awkward_mask();
  c.ct = ImageHU(m.grid(), -1000);
  for (std::size_t n = 0; n < m.size(); ++n) {
    c.ct[n] = static_cast<std::int16_t>(m[n] ? 40 + static_cast<int>(n % 7) : -1000);
  }
  c.structures.push_back({"BODY", "external", m});
  c.structures.push_back({"CTV", "target", m});
  c.structures.push_back({"cord", "organ", m});
  return c;
}

TEST(DicomImport, ContoursRasteriseToTheMaskTheyWereTracedFrom) {
  const Mask m = awkward_mask();
  std::vector<std::vector<Eigen::Vector3d>> all;
  for (std::int64_t k = 0; k < m.grid().dims[2]; ++k) {
    for (auto& c : mask_slice_contours(m, k)) all.push_back(std::move(c));
  }
  const Mask back = rasterise_contours(all, m.grid(), "test");
  EXPECT_EQ(back.data(), m.data());
  // Between slices, or off the image: refused naming the contour.
  auto shifted = all;
  for (auto& p : shifted[1]) p.z() += 1.5;  // half of the 3 mm slice spacing
  try {
    (void)rasterise_contours(shifted, m.grid(), "ROI 'x'");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ROI 'x' contour 2: lies between image slices"),
              std::string::npos)
        << e.what();
  }
  auto off = all;
  for (auto& p : off[0]) p.x() += 200.0;
  EXPECT_THROW((void)rasterise_contours(off, m.grid(), "ROI 'x'"), InputError);
}

TEST(DicomImport, ReadsItsOwnExportBackExactly) {
  test::TempDir dir;
  const Case c = small_case("P-17");
  (void)write_dicom_case(c, dir.path() / "dcm");
  const Case back = import_dicom_case(dir.path() / "dcm");
  EXPECT_EQ(back.name, "P-17");
  EXPECT_EQ(back.patient_position, iec::PatientPosition::kFFS);
  EXPECT_EQ(back.ct.grid().dims, c.ct.grid().dims);
  EXPECT_TRUE(back.ct.grid().origin_mm.isApprox(c.ct.grid().origin_mm, 1e-9));
  EXPECT_TRUE(back.ct.grid().spacing_mm.isApprox(c.ct.grid().spacing_mm, 1e-9));
  EXPECT_TRUE(back.ct.grid().direction.isApprox(c.ct.grid().direction, 1e-9));
  EXPECT_EQ(back.ct.data(), c.ct.data());
  ASSERT_EQ(back.structures.size(), 3u);
  for (std::size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(back.structures[s].name, c.structures[s].name);
    EXPECT_EQ(back.structures[s].role, c.structures[s].role);
    EXPECT_EQ(back.structures[s].mask.data(), c.structures[s].mask.data()) << c.structures[s].name;
  }
}

// Archives and scanners send compressed slices: JPEG lossless, JPEG-LS lossless and RLE, each
// written here with DCMTK's encoders, import to the same HU.
TEST(DicomImport, ReadsLosslessCompressedSlices) {
  test::TempDir dir;
  const Case c = small_case("P-19");
  const auto files = write_dicom_case(c, dir.path() / "dcm");
  DJEncoderRegistration::registerCodecs();
  DJLSEncoderRegistration::registerCodecs();
  DcmRLEEncoderRegistration::registerCodecs();
  const DJ_RPLossless jpeg;
  const DJLSRepresentationParameter jpeg_ls(2, OFTrue);
  const std::vector<std::pair<E_TransferSyntax, const DcmRepresentationParameter*>> syntaxes = {
      {EXS_JPEGProcess14SV1, &jpeg}, {EXS_JPEGLSLossless, &jpeg_ls}, {EXS_RLELossless, nullptr}};
  for (std::size_t k = 0; k < files.ct_slices.size(); ++k) {
    const auto& [xfer, parameters] = syntaxes[k % syntaxes.size()];
    DcmFileFormat f;
    ASSERT_TRUE(f.loadFile(files.ct_slices[k].c_str()).good());
    ASSERT_TRUE(f.getDataset()->chooseRepresentation(xfer, parameters).good());
    ASSERT_TRUE(f.saveFile(files.ct_slices[k].c_str(), xfer).good());
    DcmFileFormat check;
    ASSERT_TRUE(check.loadFile(files.ct_slices[k].c_str()).good());
    EXPECT_TRUE(DcmXfer(check.getDataset()->getOriginalXfer()).isEncapsulated());
  }
  const Case back = import_dicom_case(dir.path() / "dcm");
  EXPECT_EQ(back.ct.data(), c.ct.data());
}

TEST(DicomImport, RefusesAmbiguousUnevenTiltedAndForeignInput) {
  test::TempDir dir;
  const Case c = small_case("P-18");
  const auto a = write_dicom_case(c, dir.path() / "a");
  auto expect_refusal = [](const std::filesystem::path& folder, const std::string& what,
                           const std::string& series = "") {
    try {
      (void)import_dicom_case(folder, series);
      ADD_FAILURE() << "accepted " << folder;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  // A second CT series in the same folder: a choice is needed, and then it imports.
  const auto b = write_dicom_case(c, dir.path() / "two" / "b");
  (void)write_dicom_case(c, dir.path() / "two" / "c");
  expect_refusal(dir.path() / "two", "2 CT series; choose one with --series UID");
  expect_refusal(dir.path() / "two", "no CT series with SeriesInstanceUID 1.2.3", "1.2.3");
  // ... but each series' structure set is there too, and one refers to the other series.
  expect_refusal(dir.path() / "two", "the structure set refers to series",
                 b.ids.ct_series_instance_uid);
  // A missing slice.
  std::filesystem::copy(dir.path() / "a", dir.path() / "gap");
  std::filesystem::remove(dir.path() / "gap" / "CT.0002.dcm");
  expect_refusal(dir.path() / "gap", "differs from the series'");
  // A slice moved sideways: a tilted or non-parallel series.
  std::filesystem::copy(dir.path() / "a", dir.path() / "tilt");
  {
    DcmFileFormat f;
    const auto file = dir.path() / "tilt" / "CT.0003.dcm";
    ASSERT_TRUE(f.loadFile(file.c_str()).good());
    ASSERT_TRUE(f.getDataset()->putAndInsertString(DCM_ImagePositionPatient, "-18\\7\\3").good());
    ASSERT_TRUE(f.saveFile(file.c_str(), EXS_LittleEndianExplicit).good());
  }
  expect_refusal(dir.path() / "tilt", "gantry-tilted or non-parallel slices");
  expect_refusal(dir.path() / "nothing", "not a folder");
  (void)a;
}

}  // namespace
}  // namespace linac::formats
