// Dynalog and trajectory logs: written from a delivery on the simulated Clinac, read back with
// the same numbers, analysed (leaf RMS, fluence, gamma), and bad files refused with the file,
// line or byte offset named.
#include "linac/delivery/machine_log.hpp"

#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <map>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/core/random.hpp"
#include "linac/delivery/log_qa.hpp"
#include "linac/simulators/sim_machine.hpp"
#include "test_support.hpp"

namespace linac::delivery {
namespace {

struct Delivered {
  Plan plan = test::make_test_plan();
  MachineProfile profile = default_machine_profile();
  SessionResult result;
};

// One delivery of the test plan, shared by the tests (about a second of work).
const Delivered& delivered(const std::vector<sim::InjectedFault>& after_beam_on = {}) {
  static std::map<std::size_t, Delivered> cache;
  auto& d = cache[after_beam_on.size()];
  if (!d.result.beams.empty()) return d;
  sim::SimulatedMachine sim(11);
  EXPECT_FALSE(sim.machine().bring_up(d.profile).has_value());
  const auto report = validate_plan(d.plan, d.profile);
  test::TempDir dir;
  TreatmentRecord record(dir / "r.db", report.plan_checksum);
  SessionOptions o;
  o.on_state = [&, done = false](const std::string&, SessionState s) mutable {
    if (s != SessionState::kBeamOn || done) return;
    done = true;
    for (auto f : after_beam_on) {
      f.onset_s += sim.clock().now_s();
      sim.inject(f);
    }
  };
  DeliverySession session(d.plan, report, d.profile, sim.machine(), record, o);
  d.result = session.run();
  return d;
}

MachineLog arc_log(const Delivered& d) {
  return log_from_delivery(d.result.beams[0], d.plan.beams[0], "TEST-1", "test", 2.0, 0.02);
}

TEST(MachineLog, TrajectoryLogCrcIsCcittFalse) {
  // The catalogue check value of CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): "123456789".
  const std::string check = "123456789";
  EXPECT_EQ(crc16_ccitt(reinterpret_cast<const unsigned char*>(check.data()), check.size()),
            0x29B1);
  EXPECT_EQ(crc16_ccitt(nullptr, 0), 0xFFFF);
}

TEST(MachineLog, DynalogPairRoundTripsWithinItsResolution) {
  const auto& d = delivered();
  const MachineLog log = arc_log(d);
  test::TempDir dir;
  const auto files = write_dynalog(log, dir.path(), "TEST-1_Arc1");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename(), "ATEST-1_Arc1.dlg");
  EXPECT_EQ(files[1].filename(), "BTEST-1_Arc1.dlg");
  const MachineLog back = read_dynalog(files[1]);  // from the B file: finds its partner
  EXPECT_EQ(back.format, "dynalog");
  EXPECT_EQ(back.leaf_pairs, 60);
  EXPECT_EQ(back.patient_id, "TEST-1");
  // 50 ms snapshots from 20 ms cycles.
  const double span = log.snapshots.back().time_s - log.snapshots.front().time_s;
  EXPECT_NEAR(static_cast<double>(back.snapshots.size()), span / 0.05 + 1, 2.0);
  // Leaf positions within the file's resolution (0.01 mm at the MLC plane = 0.02 mm at iso).
  const auto& last_in = log.snapshots.back();
  const auto& last_out = back.snapshots.back();
  for (std::size_t l = 0; l < 60; ++l) {
    EXPECT_NEAR(last_out.leaf_a_actual_mm[l], last_in.leaf_a_actual_mm[l], 0.011);
    EXPECT_NEAR(last_out.leaf_b_actual_mm[l], last_in.leaf_b_actual_mm[l], 0.011);
    EXPECT_NEAR(last_out.leaf_b_expected_mm[l], last_in.leaf_b_expected_mm[l], 0.011);
  }
  EXPECT_NEAR(last_out.gantry_actual_deg, last_in.gantry_actual_deg, 0.051);
  EXPECT_NEAR(last_out.jaw_actual_mm[0], last_in.jaw_actual_mm[0], 0.51);
  EXPECT_NEAR(last_out.dose_fraction, 1.0, 1e-4);
  // Varian's convention in the file: bank B open is positive, X1 open is positive.
  std::ifstream in(files[1]);
  std::string line;
  for (int i = 0; i < 7; ++i) std::getline(in, line);
  EXPECT_EQ(line.rfind("0,0,", 0), 0u) << line;
}

TEST(MachineLog, TrajectoryLogRoundTripsExactlyToFloat) {
  const auto& d = delivered();
  const MachineLog log = arc_log(d);
  test::TempDir dir;
  write_trajectory_log(log, dir / "Arc1.bin");
  const MachineLog back = read_trajectory_log(dir / "Arc1.bin");
  EXPECT_EQ(back.version, "3.0");
  EXPECT_EQ(back.beam_name, "Arc1");
  EXPECT_NEAR(back.sample_period_s, 0.02, 1e-12);
  ASSERT_EQ(back.snapshots.size(), log.snapshots.size());
  for (std::size_t i = 0; i < log.snapshots.size(); i += 97) {
    const auto& a = log.snapshots[i];
    const auto& b = back.snapshots[i];
    EXPECT_NEAR(b.mu_actual, a.mu_actual, 1e-4);
    EXPECT_NEAR(b.gantry_actual_deg, a.gantry_actual_deg, 1e-4);
    EXPECT_EQ(b.delivering(), a.delivering());
    for (std::size_t l = 0; l < 60; l += 7) {
      EXPECT_NEAR(b.leaf_a_actual_mm[l], a.leaf_a_actual_mm[l], 1e-4);
      EXPECT_NEAR(b.leaf_b_expected_mm[l], a.leaf_b_expected_mm[l], 1e-4);
    }
  }
  // Same analysis from the file as from the delivery.
  const auto bounds = default_machine_profile().mlc.leaf_boundaries_mm;
  const auto a1 = analyse_log(log, bounds);
  const auto a2 = analyse_log(back, bounds);
  EXPECT_NEAR(a1.rms_mean_mm, a2.rms_mean_mm, 1e-5);
  EXPECT_NEAR(a1.mu, a2.mu, 1e-3);
  EXPECT_NEAR(a1.gantry_to_deg, a2.gantry_to_deg, 1e-4);
}

TEST(LogQa, FaultFreeDeliveryHasSmallLeafErrorsAndPassesStrictGamma) {
  const auto& d = delivered();
  const auto bounds = default_machine_profile().mlc.leaf_boundaries_mm;
  const auto a = analyse_log(arc_log(d), bounds, {1.0, 1.0, 10.0});
  EXPECT_GT(a.beam_on_snapshots, 1000);
  EXPECT_LT(a.rms_mean_mm, 0.5);
  EXPECT_LT(a.p95_mm, 1.0);
  EXPECT_EQ(a.beam_holds, 0);
  EXPECT_NEAR(a.mu, 312.5, 0.5);
  EXPECT_NEAR(a.gantry_from_deg, 181.0, 1.0);
  EXPECT_NEAR(a.gantry_to_deg, 359.0, 1.0);
  EXPECT_GE(a.gamma.pass_pct, 99.0);
  EXPECT_EQ(a.gamma.criteria, "1%/1mm");
  // Fluence: the 20 mm opening (x -20..20) was open for the first 30 % of the MU at least.
  EXPECT_GT(a.expected.at(200, 200), 0.9F * 312.5F);
  EXPECT_NEAR(a.expected.at(200, 190), a.actual.at(200, 190), 0.01 * a.expected.max());
  EXPECT_EQ(a.expected.at(200, 20), 0.0F);  // outside the X jaw at -50
}

TEST(LogQa, StuckLeafShowsInTheLogAndFailsGamma) {
  const auto& d = delivered({{sim::FaultKind::kLeafStuck, 64, 2.0, 0.0}});
  ASSERT_EQ(d.result.status, "interrupted");
  const auto bounds = default_machine_profile().mlc.leaf_boundaries_mm;
  const MachineLog log = arc_log(d);
  test::TempDir dir;
  const auto files = write_dynalog(log, dir.path(), "TEST-1_Arc1");
  const auto a = analyse_log(read_dynalog(files[0]), bounds, {1.0, 1.0, 10.0});
  EXPECT_EQ(a.worst_leaf, 64);
  EXPECT_GT(a.rms_max_mm, a.rms_mean_mm * 5.0);
  EXPECT_EQ(a.beam_holds, 1);
  EXPECT_EQ(a.rms_per_leaf_mm.size(), 120u);
}

TEST(LogQa, GammaIsTheSameForAnyNumberOfThreads) {
  // A site compares QA reports run to run: the mean gamma must not depend on the threads (a
  // reduction added their sums in the order they finished; now rows are summed in row order).
  const auto& d = delivered({{sim::FaultKind::kLeafStuck, 64, 2.0, 0.0}});
  const auto bounds = default_machine_profile().mlc.leaf_boundaries_mm;
  const MachineLog log = arc_log(d);
  const FluenceMap expected = log_fluence(log, bounds, false);
  const FluenceMap actual = log_fluence(log, bounds, true);
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const GammaResult one = gamma_2d(expected, actual, {1.0, 1.0, 10.0});
  omp_set_num_threads(std::max(2, threads));
  const GammaResult two = gamma_2d(expected, actual, {1.0, 1.0, 10.0});
  omp_set_num_threads(threads);
  ASSERT_GT(one.evaluated, 1000);
  EXPECT_GT(one.mean_gamma, 0.01);  // a spread of values over thousands of pixels
  EXPECT_EQ(one.evaluated, two.evaluated);
  EXPECT_EQ(one.pass_pct, two.pass_pct);
  EXPECT_EQ(std::bit_cast<std::uint64_t>(one.mean_gamma),
            std::bit_cast<std::uint64_t>(two.mean_gamma));
}

TEST(MachineLog, AcceptsAClinacStyleDynalogWithVarianScaleAndCrLf) {
  // Written by hand the way a Clinac MLC workstation writes them: CRLF, Varian scale (0),
  // plan UID and beam number on line 3, trailing comma on snapshot lines.
  test::TempDir dir;
  std::string head = "B\r\nDoe,John,12345\r\n1.2.840.1234,2\r\n200\r\n60\r\n0\r\n";
  auto row = [](int dose, int hold, int on, int gantry, int leaf) {
    std::string r = std::to_string(dose) + ",0," + std::to_string(hold) + "," + std::to_string(on) +
                    ",0,25000," + std::to_string(gantry) + ",1800,100,100,100,100,500,500";
    for (int l = 0; l < 60; ++l) {
      r += "," + std::to_string(leaf) + "," + std::to_string(leaf + 5) + "," +
           std::to_string(leaf) + "," + std::to_string(leaf);
    }
    return r + ",\r\n";
  };
  std::string body =
      row(0, 0, 1, 1800, 1000) + row(12500, 0, 1, 1800, 1000) + row(25000, 0, 1, 1800, 1000);
  test::write_text(dir / "A12345_2.dlg", head + body);
  test::write_text(dir / "B12345_2.dlg", head + body);
  const MachineLog log = read_machine_log(dir / "A12345_2.dlg");
  ASSERT_EQ(log.snapshots.size(), 3u);
  EXPECT_EQ(log.patient_id, "12345");
  EXPECT_NEAR(log.snapshots[1].gantry_actual_deg, 0.0, 1e-9);  // Varian 180 = IEC 0
  EXPECT_NEAR(log.snapshots[1].leaf_a_expected_mm[0], 1000 * 1.96614 / 100.0, 1e-9);
  EXPECT_NEAR(log.snapshots[1].leaf_b_actual_mm[0], -1005 * 1.96614 / 100.0, 1e-9);
  EXPECT_NEAR(log.snapshots[1].jaw_actual_mm[0], -100.0, 1e-9);
  const auto a = analyse_log(log, default_machine_profile().mlc.leaf_boundaries_mm);
  EXPECT_NEAR(a.rms_mean_mm, 5 * 1.96614 / 100.0, 1e-9);
  EXPECT_NEAR(a.dose_fraction, 1.0, 1e-9);
}

TEST(MachineLog, BadFilesAreRefusedNamingFileAndPlace) {
  const auto& d = delivered();
  const MachineLog log = arc_log(d);
  test::TempDir dir;
  const auto files = write_dynalog(log, dir.path(), "P_Arc1");
  auto message = [](const auto& f) -> std::string {
    try {
      f();
    } catch (const InputError& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("wrong exception type: ") + e.what();
    }
    return "no error";
  };
  // Truncated mid-line.
  std::string text = test::read_text(files[0]);
  test::write_text(files[0], text.substr(0, text.size() / 2));
  auto m = message([&] { (void)read_dynalog(files[0]); });
  EXPECT_NE(m.find(files[0].string()), std::string::npos) << m;
  EXPECT_NE(m.find("line"), std::string::npos) << m;
  // A file without its partner.
  std::filesystem::remove(files[1]);
  m = message([&] { (void)read_dynalog(files[0]); });
  EXPECT_NE(m.find("partner"), std::string::npos) << m;
  // Trajectory logs: truncated, corrupted, random bytes, wrong extension.
  write_trajectory_log(log, dir / "t.bin");
  const std::string bin = test::read_text(dir / "t.bin");
  test::write_text(dir / "cut.bin", bin.substr(0, bin.size() - 1000));
  m = message([&] { (void)read_trajectory_log(dir / "cut.bin"); });
  EXPECT_NE(m.find("truncated at byte"), std::string::npos) << m;
  std::string bad = bin;
  bad[5000] = static_cast<char>(bad[5000] ^ 0x40);
  test::write_text(dir / "bad.bin", bad);
  m = message([&] { (void)read_trajectory_log(dir / "bad.bin"); });
  EXPECT_NE(m.find("CRC"), std::string::npos) << m;
  Rng rng(5);
  for (int k = 0; k < 50; ++k) {
    std::string junk(static_cast<std::size_t>(rng.next_u64() % 3000), '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng.next_u64());
    if (k % 2 == 0 && junk.size() > 16) junk.replace(0, 5, "VOSTL");
    test::write_text(dir / "junk.bin", junk);
    m = message([&] { (void)read_machine_log(dir / "junk.bin"); });
    EXPECT_EQ(m.rfind("wrong exception", 0), std::string::npos) << m;
    EXPECT_NE(m, "no error");
  }
  m = message([&] { (void)read_machine_log(dir / "notes.txt"); });
  EXPECT_NE(m.find("not a machine log"), std::string::npos) << m;
}

TEST(LogQa, ToleranceFailuresNameEachLimitCrossed) {
  LogAnalysis a;
  a.p95_mm = 0.9;
  a.rms_max_mm = 0.5;
  a.gamma.criteria = "3%/2mm";
  a.gamma.pass_pct = 97.0;
  EXPECT_TRUE(tolerance_failures(a, {}).empty());  // TG-142 1 mm, TG-218 95 %, no RMS limit
  a.p95_mm = 1.2;
  a.gamma.pass_pct = 94.5;
  const auto f = tolerance_failures(a, {1.0, 95.0, 0.4});
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0], "95th percentile leaf error 1.2 mm > 1 mm");
  EXPECT_EQ(f[1], "gamma 3%/2mm pass 94.5 % < 95 %");
  EXPECT_EQ(f[2], "largest leaf RMS 0.5 mm > 0.4 mm");
}

}  // namespace
}  // namespace linac::delivery

namespace linac::delivery {
namespace {

TEST(LogQa, PylinacGammaConventionReproducesPylinacOnARealDynalog) {
  // pylinac 2.2 on this pair: 90.97 % pass, mean gamma 0.468 (tests/data/varian-logs/README.md).
  const auto dir = std::filesystem::path(LINAC_SOURCE_DIR) / "tests" / "data" / "varian-logs";
  MachineLog log = read_dynalog(dir / "A_clinac_imrt_qa.dlg");
  const GammaResult g = pylinac_gamma(log);
  EXPECT_NEAR(g.pass_pct, 90.97, 0.005);
  EXPECT_NEAR(g.mean_gamma, 0.468, 0.0005);
  EXPECT_EQ(g.criteria, "1%/1mm, pylinac");
  // Its fluence: one row per leaf pair, 0.1 mm over 400 mm, in the dose fraction (Dynalog).
  const FluenceMap f = pylinac_fluence(log, true, 0.1);
  ASSERT_EQ(f.rows, 60);
  ASSERT_EQ(f.cols, 4000);
  EXPECT_GT(f.max(), 0.1);
  EXPECT_LE(f.max(), 1.0 + 1e-6);
  // Leaves where they were expected: every evaluated pixel passes with gamma 0.
  for (auto& s : log.snapshots) {
    s.leaf_a_actual_mm = s.leaf_a_expected_mm;
    s.leaf_b_actual_mm = s.leaf_b_expected_mm;
  }
  const GammaResult same = pylinac_gamma(log);
  EXPECT_GT(same.evaluated, 1000);
  EXPECT_DOUBLE_EQ(same.pass_pct, 100.0);
  EXPECT_DOUBLE_EQ(same.mean_gamma, 0.0);
  // No beam-on snapshot: nothing to evaluate, no division by zero.
  for (auto& s : log.snapshots) s.beam_on = false;
  const GammaResult none = pylinac_gamma(log);
  EXPECT_EQ(none.evaluated, 0);
  EXPECT_EQ(none.pass_pct, 0.0);
}

}  // namespace
}  // namespace linac::delivery
