// The simulated Clinac iX: dynamics within the profile's limits, command refusal, and each
// injected fault appearing as that fault at its onset.
#include "linac/simulators/sim_machine.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "linac/core/error.hpp"
#include "test_support.hpp"

namespace linac::sim {
namespace {

const MachineProfile& profile() {
  static const MachineProfile p = default_machine_profile();
  return p;
}

class SimMachineTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(m().bring_up(profile()).has_value()); }
  hal::Machine& m() { return sim_.machine(); }
  /// Runs control cycles of `cycle_s` until `t_end_s`, calling `each` after every read.
  template <typename F>
  void run_until(double t_end_s, F each, double cycle_s = 0.02) {
    while (t_ + 1e-9 < t_end_s) {
      t_ += cycle_s;
      sim_.clock().advance_to(t_);
      m().read_all(t_);
      each(t_);
      m().write_all(t_);
    }
  }
  void run_until(double t_end_s) {
    run_until(t_end_s, [](double) {});
  }
  hal::MlcCommand open_field(double half_mm) const {
    hal::MlcCommand c;
    c.leaf_a_mm.assign(60, half_mm);
    c.leaf_b_mm.assign(60, -half_mm);
    return c;
  }
  SimulatedMachine sim_{42};
  double t_ = 0.0;
};

TEST_F(SimMachineTest, LeafTravelTakesAtLeastDistanceOverMaxSpeed) {
  ASSERT_FALSE(m().mlc->command(open_field(0.25)).has_value());
  m().write_all(0.0);
  run_until(0.5);
  ASSERT_FALSE(m().mlc->command(open_field(20.25)).has_value());
  const double start = t_;
  double arrived = -1.0;
  run_until(start + 3.0, [&](double t) {
    if (arrived < 0.0 && std::abs(m().mlc->state().leaf_a_mm[30] - 20.25) < 0.1) arrived = t;
  });
  ASSERT_GT(arrived, 0.0);
  const double minimum_s = 20.0 / profile().mlc.max_leaf_speed_mm_per_s;  // 0.8 s
  EXPECT_GE(arrived - start, minimum_s);
  EXPECT_LT(arrived - start, minimum_s + 0.4);  // servo lag and acceleration, not much more
  // Encoder noise: readings scatter around the true position at the profile's level.
  double sum2 = 0.0;
  for (const double x : m().mlc->state().leaf_a_mm) sum2 += (x - 20.25) * (x - 20.25);
  EXPECT_LT(std::sqrt(sum2 / 60.0), 5.0 * profile().mlc.encoder_noise_mm);
  EXPECT_GT(std::sqrt(sum2 / 60.0), 0.0);
}

TEST_F(SimMachineTest, GantryHalfTurnTakesAtLeastAngleOverMaxSpeed) {
  ASSERT_FALSE(m().gantry->command({180.0, 0.0}).has_value());
  double arrived = -1.0;
  double max_speed = 0.0;
  double max_angle = 0.0;
  run_until(60.0, [&](double t) {
    max_speed = std::max(max_speed, std::abs(m().gantry->state().speed_deg_per_s));
    max_angle = std::max(max_angle, m().gantry->state().angle_deg);
    if (arrived < 0.0 && std::abs(m().gantry->state().angle_deg - 180.0) < 0.2) arrived = t;
  });
  ASSERT_GT(arrived, 0.0);
  EXPECT_GE(arrived, 180.0 / 4.8);
  EXPECT_LT(arrived, 180.0 / 4.8 + 3.0);
  EXPECT_LE(max_speed, 4.8 + 1e-9);
  EXPECT_LT(max_angle, 180.0 + 0.1);  // brakes in time: no overshoot beyond encoder noise
  EXPECT_NEAR(m().gantry->state().angle_deg, 180.0, 0.1);
  EXPECT_TRUE(m().take_faults().empty());
}

TEST_F(SimMachineTest, CollimatorAndJawsTravelWithinTheirSpeeds) {
  ASSERT_FALSE(m().collimator->command({90.0, 0.0}).has_value());
  ASSERT_FALSE(m().jaws->command({-150.0, 50.0, -50.0, 50.0}).has_value());
  double coll_arrived = -1.0;
  double jaw_arrived = -1.0;
  run_until(15.0, [&](double t) {
    if (coll_arrived < 0 && std::abs(m().collimator->state().angle_deg - 90.0) < 0.1) {
      coll_arrived = t;
    }
    if (jaw_arrived < 0 && std::abs(m().jaws->state().x1_mm + 150.0) < 0.2) jaw_arrived = t;
  });
  EXPECT_GE(coll_arrived, 90.0 / profile().collimator.max_speed_deg_per_s);
  EXPECT_LT(coll_arrived, 90.0 / profile().collimator.max_speed_deg_per_s + 2.0);
  EXPECT_GE(jaw_arrived, 100.0 / profile().jaws.max_speed_mm_per_s);
  EXPECT_LT(jaw_arrived, 100.0 / profile().jaws.max_speed_mm_per_s + 1.0);
}

TEST_F(SimMachineTest, CommandsBeyondTheProfileAreRefusedByTheDevice) {
  auto c = open_field(10.0);
  c.leaf_a_mm[5] = 250.0;  // beyond retraction
  auto f = m().mlc->command(c);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->code, hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(f->element, 5);
  c = open_field(10.0);
  c.leaf_a_mm[7] = -3.0;
  c.leaf_b_mm[7] = -2.8;  // gap -0.2 mm: collision
  f = m().mlc->command(c);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->code, hal::FaultCode::kCommandCollision);
  c = open_field(10.0);
  c.leaf_b_mm[0] = std::nan("");
  EXPECT_EQ(m().mlc->command(c)->code, hal::FaultCode::kCommandInvalid);
  c = open_field(10.0);
  c.leaf_a_mm[0] = 160.0;  // bank span 150 > 145
  EXPECT_EQ(m().mlc->command(c)->code, hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(m().gantry->command({190.0, 0.0})->code, hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(m().gantry->command({10.0, 1e308})->code, hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(m().jaws->command({-250.0, 50.0, -50.0, 50.0})->code,
            hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(m().couch->command({0, 0, 0, 5.0, 4.0, 0})->code, hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(m().beam->command({true, 300.0, 18.0, 100.0})->code,
            hal::FaultCode::kCommandOutOfRange);
  EXPECT_EQ(m().beam->command({true, 900.0, 6.0, 100.0})->code, hal::FaultCode::kCommandOutOfRange);
  // Every refusal is also queued for the controller's record.
  EXPECT_EQ(m().take_faults().size(), 10u);
  // An inactive device refuses everything.
  m().shut_down();
  EXPECT_EQ(m().mlc->command(open_field(10.0))->code, hal::FaultCode::kNotActive);
}

TEST_F(SimMachineTest, PrimaryChannelEndsTheBeamAtThePresetAndChannelsAgree) {
  m().dose->reset_counts();
  ASSERT_FALSE(m().beam->command({true, 600.0, 6.0, 50.0}).has_value());
  double rate_sum = 0.0;
  int rate_n = 0;
  run_until(8.0, [&](double) {
    if (m().beam->state().beam_on && t_ > 1.0)
      rate_sum += m().beam->state().dose_rate_mu_per_min, ++rate_n;
  });
  EXPECT_FALSE(m().beam->state().beam_on);
  const auto& d = m().dose->counts();
  EXPECT_NEAR(d.primary_mu, 50.0, 0.02);
  EXPECT_NEAR(d.secondary_mu, d.primary_mu, 0.01 * 50.0);
  EXPECT_NE(d.secondary_mu, d.primary_mu);  // independent chambers
  ASSERT_GT(rate_n, 0);
  EXPECT_NEAR(rate_sum / rate_n, 600.0, 6.0);  // servoed to the command, with ripple
}

TEST_F(SimMachineTest, SameSeedSameMachine) {
  SimulatedMachine a(7);
  SimulatedMachine b(7);
  ASSERT_FALSE(a.machine().bring_up(profile()));
  ASSERT_FALSE(b.machine().bring_up(profile()));
  for (auto* s : {&a, &b}) {
    ASSERT_FALSE(s->machine().mlc->command(open_field(12.0)));
    s->machine().write_all(0.0);
    s->machine().read_all(0.37);
  }
  EXPECT_EQ(a.machine().mlc->state().leaf_a_mm, b.machine().mlc->state().leaf_a_mm);
}

// --- Injected faults: each appears as that fault, at its onset ----------------------------------

TEST_F(SimMachineTest, StuckLeafStopsAtItsOnset) {
  sim_.inject({FaultKind::kLeafStuck, 12, 0.5, 0.0});
  ASSERT_FALSE(m().mlc->command(open_field(20.0)).has_value());
  double at_onset = 0.0;
  run_until(2.0, [&](double t) {
    if (std::abs(t - 0.5) < 1e-9) at_onset = m().mlc->state().leaf_a_mm[12];
  });
  EXPECT_GT(at_onset, 5.0);                                    // it was moving
  EXPECT_NEAR(m().mlc->state().leaf_a_mm[12], at_onset, 0.1);  // then stopped
  EXPECT_NEAR(m().mlc->state().leaf_a_mm[13], 20.0, 0.1);      // its neighbour arrived
}

TEST_F(SimMachineTest, DriftingLeafDriftsFromItsOnset) {
  sim_.inject({FaultKind::kLeafDrift, 70, 1.0, 0.1});  // bank B leaf 11, 0.1 mm/s
  ASSERT_FALSE(m().mlc->command(open_field(10.0)).has_value());
  run_until(1.0);
  const double before = m().mlc->state().leaf_b_mm[10];
  run_until(11.0);
  // The drive slips: the leaf creeps off its set-point at the drift rate.
  const double settled = m().mlc->state().leaf_b_mm[10];
  EXPECT_NEAR(before, -10.0, 0.1);
  EXPECT_NEAR(settled - (-10.0), 0.1 * 10.0, 0.1);
}

TEST_F(SimMachineTest, SlowLeafTakesLonger) {
  sim_.inject({FaultKind::kLeafSlow, 3, 0.0, 0.5});
  ASSERT_FALSE(m().mlc->command(open_field(20.0)).has_value());
  run_until(1.0);
  EXPECT_NEAR(m().mlc->state().leaf_a_mm[4], 20.0, 0.2);
  EXPECT_LT(m().mlc->state().leaf_a_mm[3], 14.0);  // at half speed
}

TEST_F(SimMachineTest, GantryStallIsReportedAfterItsOnset) {
  sim_.inject({FaultKind::kGantryStall, 0, 2.0, 0.0});
  ASSERT_FALSE(m().gantry->command({90.0, 0.0}).has_value());
  std::vector<hal::Fault> faults;
  run_until(4.0, [&](double) {
    for (auto& f : m().take_faults()) faults.push_back(f);
  });
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].code, hal::FaultCode::kStall);
  EXPECT_EQ(faults[0].device, "gantry");
  EXPECT_GE(faults[0].time_s, 2.0);
  EXPECT_LT(faults[0].time_s, 2.5);
  EXPECT_LT(m().gantry->state().angle_deg, 2.0 * 4.8 + 0.5);
}

TEST_F(SimMachineTest, GantryOverspeedIsReportedAtItsOnset) {
  sim_.inject({FaultKind::kGantryOverspeed, 0, 3.0, 1.5});
  ASSERT_FALSE(m().gantry->command({120.0, 0.0}).has_value());
  std::vector<hal::Fault> faults;
  run_until(6.0, [&](double) {
    for (auto& f : m().take_faults()) faults.push_back(f);
  });
  ASSERT_FALSE(faults.empty());
  EXPECT_EQ(faults[0].code, hal::FaultCode::kOverspeed);
  EXPECT_GE(faults[0].time_s, 3.0);
  EXPECT_LT(faults[0].time_s, 3.5);
  EXPECT_GT(faults[0].value, 4.8 * 1.1);
}

TEST_F(SimMachineTest, StoppedPrimaryChannelLetsTheSecondaryEndTheBeam) {
  sim_.inject({FaultKind::kPrimaryChannelStop, 0, 2.0, 0.0});
  m().dose->reset_counts();
  ASSERT_FALSE(m().beam->command({true, 600.0, 6.0, 50.0}).has_value());
  std::vector<hal::Fault> faults;
  run_until(10.0, [&](double) {
    for (auto& f : m().take_faults()) faults.push_back(f);
  });
  EXPECT_FALSE(m().beam->state().beam_on);
  const auto& d = m().dose->counts();
  // 2 s at 600 MU/min (less the first cycle and the dose-rate servo ramp), then stopped.
  EXPECT_NEAR(d.primary_mu, 19.3, 0.5);
  EXPECT_NEAR(d.secondary_mu, 50.0 + profile().dose.secondary_limit_over_preset_mu, 0.1);
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].code, hal::FaultCode::kSecondaryTermination);
}

TEST_F(SimMachineTest, ChannelDisagreementShowsInTheCounts) {
  sim_.inject({FaultKind::kChannelDisagreement, 0, 1.0, 5.0});
  m().dose->reset_counts();
  ASSERT_FALSE(m().beam->command({true, 600.0, 6.0, 100.0}).has_value());
  run_until(1.0);
  const double diff_before = m().dose->counts().secondary_mu - m().dose->counts().primary_mu;
  run_until(5.0);
  const auto& d = m().dose->counts();
  EXPECT_LT(std::abs(diff_before), 0.05);
  EXPECT_NEAR(d.secondary_mu - d.primary_mu, 0.05 * (d.primary_mu - 10.0), 0.3);
}

TEST_F(SimMachineTest, DoseRateDropoutAndExcess) {
  sim_.inject({FaultKind::kDoseRateDropout, 0, 1.0, 0.0});
  m().dose->reset_counts();
  ASSERT_FALSE(m().beam->command({true, 300.0, 6.0, 100.0}).has_value());
  run_until(0.9);
  EXPECT_NEAR(m().beam->state().dose_rate_mu_per_min, 300.0, 10.0);
  run_until(2.0);
  EXPECT_LT(m().beam->state().dose_rate_mu_per_min, 1.0);
  EXPECT_TRUE(m().beam->state().beam_on);  // the controller must notice and hold

  SimulatedMachine other(3);
  ASSERT_FALSE(other.machine().bring_up(profile()));
  other.inject({FaultKind::kDoseRateExcess, 0, 0.5, 1.3});
  ASSERT_FALSE(other.machine().beam->command({true, 300.0, 6.0, 100.0}));
  other.machine().write_all(0.0);
  for (double t = 0.02; t < 2.0; t += 0.02) other.machine().read_all(t);
  EXPECT_NEAR(other.machine().beam->state().dose_rate_mu_per_min, 390.0, 10.0);
}

TEST_F(SimMachineTest, JawAndCouchNotAtPosition) {
  sim_.inject({FaultKind::kJawNotAtPosition, 1, 0.0, 3.0});
  sim_.inject({FaultKind::kCouchNotAtPosition, 2, 0.0, -2.0});
  ASSERT_FALSE(m().jaws->command({-40.0, 40.0, -60.0, 60.0}).has_value());
  ASSERT_FALSE(m().couch->command({5.0, -10.0, 3.0, 1.0, 0.5, -0.5}).has_value());
  run_until(6.0);
  EXPECT_NEAR(m().jaws->state().x1_mm, -40.0, 0.2);
  EXPECT_NEAR(m().jaws->state().x2_mm, 43.0, 0.2);
  EXPECT_NEAR(m().couch->state().lateral_mm, 5.0, 0.1);
  EXPECT_NEAR(m().couch->state().vertical_mm, 1.0, 0.1);
  EXPECT_NEAR(m().couch->state().rotation_deg, 1.0, 0.05);
}

TEST(FaultFile, ReadsFaultsAndRefusesBadOnes) {
  test::TempDir dir;
  test::write_text(dir / "f.json",
                   R"({"faults": [{"kind": "leaf_stuck", "element": 12, "onset_s": 1.5},
                                  {"kind": "gantry_overspeed", "onset_s": 3, "magnitude": 1.4}]})");
  const auto faults = load_fault_file(dir / "f.json");
  ASSERT_EQ(faults.size(), 2u);
  EXPECT_EQ(faults[0].kind, FaultKind::kLeafStuck);
  EXPECT_EQ(faults[0].element, 12);
  EXPECT_DOUBLE_EQ(faults[1].magnitude, 1.4);
  test::write_text(dir / "bad.json", R"({"faults": [{"kind": "leaf_melted"}]})");
  try {
    (void)load_fault_file(dir / "bad.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("faults[0]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("leaf_melted"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace linac::sim
