// The delivery session on the in-process simulated Clinac iX: a fault-free delivery, and the
// device rows of the SAFETY.md fault catalogue, each with an injected fault and its state,
// record and log (cycle samples) checked.
#include "linac/delivery/session.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "linac/core/error.hpp"
#include "linac/core/machine_profile.hpp"
#include "linac/delivery/trajectory.hpp"
#include "linac/formats/plan_io.hpp"
#include "linac/simulators/sim_machine.hpp"
#include "test_support.hpp"

namespace linac::delivery {
namespace {

using sim::FaultKind;

struct Rig {
  explicit Rig(Plan p = test::make_test_plan(), MachineProfile prof = default_machine_profile(),
               std::uint64_t seed = 7)
      : plan(std::move(p)), profile(std::move(prof)), sim(seed) {
    report = validate_plan(plan, profile);
    EXPECT_TRUE(report.deliverable) << report.to_json();
    EXPECT_FALSE(sim.machine().bring_up(profile).has_value());
  }
  SessionResult deliver(SessionOptions options = {}) {
    TreatmentRecord record(dir / "record.db", report.plan_checksum);
    DeliverySession session(plan, report, profile, sim.machine(), record, std::move(options));
    return session.run();
  }
  /// Injects `f` `delay_s` after the first beam-on of the session.
  SessionOptions inject_after_beam_on(sim::InjectedFault f, double delay_s, SessionOptions o = {}) {
    o.on_state = [this, f, delay_s, done = false](const std::string&, SessionState s) mutable {
      if (s == SessionState::kBeamOn && !done) {
        done = true;
        auto g = f;
        g.onset_s = sim.clock().now_s() + delay_s;
        sim.inject(g);
      }
    };
    return o;
  }
  Plan plan;
  MachineProfile profile;
  sim::SimulatedMachine sim;
  ValidationReport report;
  test::TempDir dir;
};

double leaf_error(const CycleSample& c, std::size_t leaf) {
  const std::size_t pairs = c.expected.leaf_a_mm.size();
  return leaf < pairs ? c.actual.leaf_a_mm[leaf] - c.expected.leaf_a_mm[leaf]
                      : c.actual.leaf_b_mm[leaf - pairs] - c.expected.leaf_b_mm[leaf - pairs];
}

TEST(DeliverySession, FaultFreeDeliveryCompletesEveryBeamToItsPreset) {
  Rig rig;
  std::vector<std::string> states;
  SessionOptions o;
  o.on_state = [&](const std::string& beam, SessionState s) {
    states.push_back(beam + ":" + to_string(s));
  };
  const auto result = rig.deliver(o);
  ASSERT_EQ(result.status, "completed");
  ASSERT_EQ(result.beams.size(), 2u);
  const std::vector<std::string> want = {"Arc1:ready", "Arc1:beam_on", "Arc1:completed",
                                         "AP:ready",   "AP:beam_on",   "AP:completed"};
  EXPECT_EQ(states, want);
  for (std::size_t b = 0; b < 2; ++b) {
    const auto& o2 = result.beams[b];
    EXPECT_NEAR(o2.delivered_primary_mu, rig.plan.beams[b].meterset_mu, 0.1) << o2.name;
    EXPECT_NEAR(o2.delivered_secondary_mu, rig.plan.beams[b].meterset_mu, 1.0) << o2.name;
    EXPECT_TRUE(o2.interrupts.empty()) << o2.interrupts.front().message;
    EXPECT_EQ(o2.beam_holds, 0);
  }
  // Beam-on time near the sequenced prediction (the gantry's acceleration adds a little).
  const auto traj = sequence_beam(rig.plan.beams[0], rig.profile);
  EXPECT_GT(result.beams[0].beam_on_s, traj.beam_on_s - 0.5);
  EXPECT_LT(result.beams[0].beam_on_s, traj.beam_on_s * 1.15 + 1.0);
  // The leaves followed the MU: RMS error over beam-on cycles well inside tolerance.
  double sum2 = 0.0;
  int n = 0;
  for (const auto& c : result.beams[0].samples) {
    if (!c.beam_on) continue;
    for (std::size_t l = 0; l < 120; ++l) sum2 += std::pow(leaf_error(c, l), 2);
    n += 120;
    EXPECT_LT(std::abs(c.actual.gantry_deg - c.expected.gantry_deg), 1.0);
  }
  ASSERT_GT(n, 0);
  EXPECT_LT(std::sqrt(sum2 / n), 0.5);
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  EXPECT_TRUE(record.beam_completed(1, "Arc1"));
  EXPECT_TRUE(record.beam_completed(1, "AP"));
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
  EXPECT_TRUE(record.interruptions(1).empty());
  // A second run of the same fraction delivers nothing more.
  const auto again = rig.deliver();
  EXPECT_EQ(again.status, "completed");
  EXPECT_TRUE(again.beams[0].samples.empty());
}

TEST(DeliverySession, AnArcWhoseMuPerDegreeJumpIsDeliveredWithoutItsHoldsEndingIt) {
  // Routed plans change MU per degree thirty-fold from one control point to the next. Sequenced
  // without ramps, the dose servo overshot the small segments' MU, the MU-driven set-points ran
  // ahead of the gantry and leaves, and the leaf-deviation interlock ended the arc after eleven
  // holds (ADR 0009). With the ramps (trajectory.cpp) it completes.
  Plan plan = test::make_test_plan();
  plan.beams = {test::jumping_arc()};
  Rig rig(plan);
  const auto result = rig.deliver();
  ASSERT_EQ(result.status, "completed");
  ASSERT_EQ(result.beams.size(), 1U);
  EXPECT_NEAR(result.beams[0].delivered_primary_mu, rig.plan.beams[0].meterset_mu, 0.1);
  EXPECT_LE(result.beams[0].beam_holds, 3);
}

// Row 1: one leaf stuck mid-arc.
TEST(DeliverySession, StuckLeafHoldsWithinOneCycleAndResumesAfterClearing) {
  Rig rig;
  const auto result = rig.deliver(rig.inject_after_beam_on({FaultKind::kLeafStuck, 64, 0, 0}, 3.0));
  ASSERT_EQ(result.status, "interrupted");
  const auto& arc = result.beams[0];
  ASSERT_FALSE(arc.interrupts.empty());
  EXPECT_EQ(arc.interrupts[0].code, "leaf_deviation");
  EXPECT_EQ(arc.interrupts[0].element, 64);
  EXPECT_NE(arc.interrupts[0].message.find("leaf B5"), std::string::npos);
  // The first cycle past tolerance is a hold; the dose stops at that cycle's write.
  std::size_t first = 0;
  while (first < arc.samples.size() &&
         std::abs(leaf_error(arc.samples[first], 64)) <= rig.profile.mlc.position_tolerance_mm) {
    ++first;
  }
  ASSERT_LT(first, arc.samples.size());
  EXPECT_TRUE(arc.samples[first].hold);
  const double mu_at_hold = arc.samples[first].primary_mu;
  EXPECT_LT(arc.delivered_primary_mu - mu_at_hold, 600.0 / 60.0 * 0.02 + 0.05);
  // Record: the MU and the interruption with its leaf and values.
  {
    TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
    EXPECT_NEAR(record.delivered_mu(1, "Arc1"), arc.delivered_primary_mu, 1e-9);
    const auto stops = record.interruptions(1);
    ASSERT_FALSE(stops.empty());
    EXPECT_EQ(stops.back().code, "leaf_deviation");
    EXPECT_EQ(stops.back().element, 64);
    EXPECT_GT(stops.back().value, 2.0);
    EXPECT_DOUBLE_EQ(stops.back().limit, 2.0);
  }
  // Cleared (a machine without the fault): resume delivers exactly the rest.
  sim::SimulatedMachine fixed(8);
  ASSERT_FALSE(fixed.machine().bring_up(rig.profile).has_value());
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  DeliverySession resume(rig.plan, rig.report, rig.profile, fixed.machine(), record);
  const auto done = resume.run();
  ASSERT_EQ(done.status, "completed");
  EXPECT_NEAR(done.beams[0].resumed_from_mu, arc.delivered_primary_mu, 1e-9);
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
  EXPECT_NEAR(record.delivered_mu(1, "AP"), 100.0, 0.1);
}

// Row 2: a leaf drifting at 0.1 mm/s holds when it crosses tolerance, not before.
TEST(DeliverySession, DriftingLeafHoldsWhenItCrossesTolerance) {
  Rig rig;
  const auto result =
      rig.deliver(rig.inject_after_beam_on({FaultKind::kLeafDrift, 10, 0, 0.1}, 1.0));
  ASSERT_EQ(result.status, "interrupted");
  const auto& arc = result.beams[0];
  ASSERT_EQ(arc.interrupts[0].code, "leaf_deviation");
  EXPECT_EQ(arc.interrupts[0].element, 10);
  bool held = false;
  for (const auto& c : arc.samples) {
    const double e = std::abs(leaf_error(c, 10));
    if (!held && c.hold) {
      held = true;
      EXPECT_GT(e, 2.0);
      EXPECT_LT(e, 2.1);
    }
    if (!held) {
      EXPECT_LE(e, 2.0);
    }
  }
  EXPECT_TRUE(held);
  EXPECT_GT(arc.delivered_primary_mu, 100.0);  // ~20 s of drift before the hold
}

// Row 3: a slow leaf within what the plan needs keeps the delivery feasible; far too slow holds.
TEST(DeliverySession, SlowLeafIsAbsorbedWithinLimitsAndHoldsBeyond) {
  {
    Rig rig;
    const auto r = rig.deliver(rig.inject_after_beam_on({FaultKind::kLeafSlow, 3, 0, 0.5}, 0.0));
    EXPECT_EQ(r.status, "completed");
  }
  Plan fast = test::make_test_plan();
  // A sweeping field: leaves travel 80 mm while 20 MU are given, at the maximum leaf speed.
  auto& f = fast.beams[1];
  f.type = BeamType::kDynamic;
  f.meterset_mu = 20.0;
  f.control_points[0].leaf_a_mm.assign(60, -30.0);
  f.control_points[0].leaf_b_mm.assign(60, -40.0);
  f.control_points[1].leaf_a_mm.assign(60, 50.0);
  f.control_points[1].leaf_b_mm.assign(60, 40.0);
  fast.beams.erase(fast.beams.begin());
  Rig rig(fast);
  const auto r = rig.deliver(rig.inject_after_beam_on({FaultKind::kLeafSlow, 70, 0, 0.03}, 0.0));
  ASSERT_EQ(r.status, "interrupted");
  EXPECT_EQ(r.beams[0].interrupts[0].code, "leaf_deviation");
  EXPECT_EQ(r.beams[0].interrupts[0].element, 70);
  EXPECT_GT(r.beams[0].beam_holds, 10);
}

// Row 5: gantry stalls: hold, no dose while the gantry is off its angle.
TEST(DeliverySession, GantryStallHoldsWithoutDose) {
  Rig rig;
  const auto r = rig.deliver(rig.inject_after_beam_on({FaultKind::kGantryStall, 0, 0, 0}, 4.0));
  ASSERT_EQ(r.status, "interrupted");
  const auto& arc = r.beams[0];
  const auto& code = arc.interrupts[0].code;
  EXPECT_TRUE(code == "stall" || code == "gantry_deviation") << code;
  for (const auto& c : arc.samples) {
    if (c.beam_on) {
      EXPECT_LE(std::abs(c.actual.gantry_deg - c.expected.gantry_deg), 1.0 + 0.2);
    }
  }
}

// A device fault while the axes come to the start of the beam refuses beam on at once, naming
// the fault (the gantry stalls on its way to the arc's start): nothing delivered.
TEST(DeliverySession, DeviceFaultBeforeBeamOnRefusesIt) {
  Rig rig;
  rig.sim.inject({FaultKind::kGantryStall, 0, rig.sim.clock().now_s(), 0.0});
  const auto r = rig.deliver();
  ASSERT_EQ(r.status, "interrupted");
  const auto& arc = r.beams[0];
  EXPECT_EQ(arc.status, "refused");
  ASSERT_FALSE(arc.interrupts.empty());
  EXPECT_EQ(arc.interrupts[0].code, "stall");
  EXPECT_NE(arc.interrupts[0].message.find("beam on refused: "), std::string::npos)
      << arc.interrupts[0].message;
  EXPECT_TRUE(arc.samples.empty());
  EXPECT_EQ(arc.delivered_primary_mu, 0.0);
}

// Row 6: gantry overspeed: hold, fault recorded.
TEST(DeliverySession, GantryOverspeedHoldsAndIsRecorded) {
  Rig rig;
  const auto r =
      rig.deliver(rig.inject_after_beam_on({FaultKind::kGantryOverspeed, 0, 0, 1.6}, 2.0));
  ASSERT_EQ(r.status, "interrupted");
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  bool found = false;
  for (const auto& i : record.interruptions(1)) found = found || i.code == "overspeed";
  EXPECT_TRUE(found);
}

// Row 7: the primary channel stops counting: the beam ends within the secondary's limit.
TEST(DeliverySession, PrimaryChannelStopEndsTheBeamWithinTheSecondaryLimit) {
  Rig rig;
  const auto r =
      rig.deliver(rig.inject_after_beam_on({FaultKind::kPrimaryChannelStop, 0, 0, 0}, 5.0));
  ASSERT_EQ(r.status, "terminated");
  const auto& arc = r.beams[0];
  EXPECT_EQ(arc.interrupts[0].code, "dose_channels_disagree");
  EXPECT_LT(arc.delivered_secondary_mu, 312.5 + rig.profile.dose.secondary_limit_over_preset_mu);
  EXPECT_GT(arc.delivered_secondary_mu - arc.delivered_primary_mu, 1.0);
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  EXPECT_EQ(record.beam_status(1, "Arc1"), BeamStatus::kTerminated);
  const auto cp = record.last_checkpoint(1, "Arc1");
  ASSERT_TRUE(cp);
  EXPECT_NEAR(cp->secondary_mu, arc.delivered_secondary_mu, 1e-9);
  // A terminated beam is not resumed.
  const auto again = rig.deliver();
  EXPECT_EQ(again.status, "terminated");
}

// Row 7, backstop: with a site's wide disagreement tolerance, the secondary ends the beam at
// its limit over the preset (here the channels drift 2 % apart; the secondary reads high).
TEST(DeliverySession, SecondaryChannelEndsTheBeamAtItsLimitOverPreset) {
  MachineProfile wide = default_machine_profile();
  wide.dose.channel_disagreement_tolerance_mu = 1000.0;
  wide.dose.channel_disagreement_tolerance_pct = 100.0;
  Rig rig(test::make_test_plan(), wide);
  const auto r =
      rig.deliver(rig.inject_after_beam_on({FaultKind::kChannelDisagreement, 0, 0, 2.0}, 0.0));
  ASSERT_EQ(r.status, "terminated");
  const auto& arc = r.beams[0];
  EXPECT_EQ(arc.interrupts[0].code, "secondary_termination");
  const double limit = 312.5 + wide.dose.secondary_limit_over_preset_mu;
  EXPECT_GE(arc.delivered_secondary_mu, limit - 0.2);
  EXPECT_LE(arc.delivered_secondary_mu, limit + 0.25);  // within one cycle of dose
}

// Row 8: channels disagree beyond tolerance: hold, both counts recorded.
TEST(DeliverySession, DisagreeingChannelsHoldWithBothCountsRecorded) {
  Rig rig;
  const auto r =
      rig.deliver(rig.inject_after_beam_on({FaultKind::kChannelDisagreement, 0, 0, 5.0}, 1.0));
  ASSERT_NE(r.status, "completed");
  const auto& arc = r.beams[0];
  EXPECT_EQ(arc.interrupts[0].code, "dose_channels_disagree");
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  const auto stops = record.interruptions(1);
  ASSERT_FALSE(stops.empty());
  EXPECT_GT(stops.back().secondary_mu - stops.back().delivered_mu, 1.0);
  EXPECT_GT(stops.back().delivered_mu, 10.0);
}

// Row 9: the dose-rate servo drops out: hold after the profile's timeout.
TEST(DeliverySession, DoseRateDropoutHoldsAfterTheTimeout) {
  Rig rig;
  double onset = -1;
  auto o = rig.inject_after_beam_on({FaultKind::kDoseRateDropout, 0, 0, 0}, 2.0);
  auto inner = o.on_state;
  o.on_state = [&, inner](const std::string& b, SessionState s) {
    if (s == SessionState::kBeamOn && onset < 0) onset = rig.sim.clock().now_s() + 2.0;
    inner(b, s);
  };
  const auto r = rig.deliver(o);
  ASSERT_EQ(r.status, "interrupted");
  const auto& arc = r.beams[0];
  EXPECT_TRUE(std::any_of(arc.interrupts.begin(), arc.interrupts.end(),
                          [](const auto& e) { return e.code == "dose_rate_dropout"; }));
  // The beam held no later than the timeout after the dropout (the gantry, running on
  // without dose, may hold it sooner) and never came back on for longer than the timeout.
  double first_hold = -1;
  const double start = onset - 2.0 - 0.02;
  for (const auto& c : arc.samples) {
    if (c.hold && first_hold < 0) first_hold = c.time_s + start;
  }
  ASSERT_GT(first_hold, onset);
  EXPECT_LE(first_hold - onset, rig.profile.dose.dose_rate_dropout_timeout_s + 0.05);
}

// Row 10: dose rate above the commanded one: hold; MU never past the preset.
TEST(DeliverySession, DoseRateExcessHoldsAndMuStayWithinPreset) {
  Rig rig;
  const auto r =
      rig.deliver(rig.inject_after_beam_on({FaultKind::kDoseRateExcess, 0, 0, 1.5}, 2.0));
  ASSERT_EQ(r.status, "interrupted");
  EXPECT_EQ(r.beams[0].interrupts[0].code, "dose_rate_excess");
  EXPECT_LT(r.beams[0].delivered_primary_mu, 312.5);
}

// Row 11: a jaw not at position: beam on refused, nothing delivered.
TEST(DeliverySession, JawNotAtPositionRefusesBeamOn) {
  Rig rig;
  rig.sim.inject({FaultKind::kJawNotAtPosition, 1, 0.0, 3.0});
  const auto r = rig.deliver();
  ASSERT_EQ(r.status, "interrupted");
  EXPECT_EQ(r.beams[0].status, "refused");
  EXPECT_EQ(r.beams[0].interrupts[0].code, "jaws_not_at_position");
  EXPECT_EQ(r.beams[0].interrupts[0].element, 1);
  EXPECT_DOUBLE_EQ(r.beams[0].delivered_primary_mu, 0.0);
  EXPECT_TRUE(r.beams[0].samples.empty());
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  EXPECT_EQ(record.interruptions(1).at(0).code, "jaws_not_at_position");
}

// Row 12: couch not at the corrected position: beam on refused until it is.
TEST(DeliverySession, CouchNotAtCorrectedPositionRefusesBeamOn) {
  SessionOptions o;
  o.couch_position = hal::CouchPose{3.0, -12.0, 4.5, 1.0, 0.0, 0.0};
  {
    Rig rig;
    rig.sim.inject({FaultKind::kCouchNotAtPosition, 2, 0.0, 2.0});
    const auto r = rig.deliver(o);
    ASSERT_EQ(r.beams[0].status, "refused");
    EXPECT_EQ(r.beams[0].interrupts[0].code, "couch_not_at_position");
    EXPECT_EQ(r.beams[0].interrupts[0].element, 2);
    EXPECT_NEAR(r.beams[0].interrupts[0].value, 2.0, 0.2);
  }
  Rig rig;  // the couch gets there: the beam goes on
  const auto r = rig.deliver(o);
  EXPECT_EQ(r.status, "completed");
}

// Row 17: plan edited between validation and beam on.
TEST(DeliverySession, PlanEditedAfterValidationIsRefusedAtBeamOn) {
  Rig rig;
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  Plan plan = rig.plan;
  DeliverySession session(plan, rig.report, rig.profile, rig.sim.machine(), record);
  plan.beams[0].control_points[1].leaf_a_mm[30] += 5.0;  // edited after validation
  const auto r = session.run();
  ASSERT_EQ(r.beams[0].status, "refused");
  EXPECT_EQ(r.beams[0].interrupts[0].code, "plan_checksum_mismatch");
  EXPECT_DOUBLE_EQ(record.delivered_mu(1, "Arc1"), 0.0);
  // And a plan that was never deliverable cannot even make a session.
  ValidationReport bad = rig.report;
  bad.deliverable = false;
  EXPECT_THROW(DeliverySession(plan, bad, rig.profile, rig.sim.machine(), record), InputError);
}

// Row 17 on disk: the plan file is edited after validation; it is read again at beam on.
TEST(DeliverySession, PlanFileEditedAfterValidationIsRefusedAtBeamOn) {
  Rig rig;
  const auto file = rig.dir / "plan.json";
  write_plan(file, rig.plan);
  SessionOptions o;
  o.plan_file = file;
  o.on_state = [&](const std::string&, SessionState s) {
    if (s != SessionState::kReady) return;
    Plan edited = rig.plan;
    edited.beams[0].meterset_mu = 400.0;  // someone changes the MU on disk
    write_plan(file, edited);
  };
  const auto r = rig.deliver(o);
  ASSERT_EQ(r.beams[0].status, "refused");
  EXPECT_EQ(r.beams[0].interrupts[0].code, "plan_checksum_mismatch");
  EXPECT_DOUBLE_EQ(r.beams[0].delivered_primary_mu, 0.0);
}

// Row 27: the operator interrupts, a later session resumes exactly.
TEST(DeliverySession, OperatorBeamOffThenExactResume) {
  Rig rig;
  SessionOptions o;
  o.operator_beam_off_at_s = 10.0;
  const auto first = rig.deliver(o);
  ASSERT_EQ(first.status, "interrupted");
  EXPECT_EQ(first.beams[0].interrupts[0].code, "operator_beam_off");
  const double partial = first.beams[0].delivered_primary_mu;
  EXPECT_GT(partial, 20.0);
  EXPECT_LT(partial, 200.0);
  const auto second = rig.deliver();
  ASSERT_EQ(second.status, "completed");
  EXPECT_NEAR(second.beams[0].resumed_from_mu, partial, 1e-9);
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  EXPECT_NEAR(record.delivered_mu(1, "Arc1"), 312.5, 0.1);
  const auto states = record.states(1, "Arc1");
  EXPECT_EQ(std::count(states.begin(), states.end(), "interrupted"), 1);
  EXPECT_EQ(states.back(), "completed");
}

// Step-and-shoot: each segment's MU are given with the leaves at that segment, and the leaves
// move to the next with the beam off (the beam ends at the segment's MU and comes on again when
// they are there) — no interlock holds, no dose while they move.
TEST(DeliverySession, StepAndShootSegmentsAreDeliveredWithTheLeavesAtEachSegment) {
  Rig rig(test::make_step_and_shoot_plan(5, 15.0));
  const auto result = rig.deliver();
  ASSERT_EQ(result.status, "completed");
  const auto& b = result.beams[0];
  EXPECT_EQ(b.beam_holds, 0);
  EXPECT_EQ(b.transitions, 4);
  EXPECT_TRUE(b.interrupts.empty()) << b.interrupts.front().message;
  EXPECT_NEAR(b.delivered_primary_mu, 100.0, 0.05);
  // MU given at each segment's leaf positions (leaf B31: -40, -25, -10, 5, 20 mm), and where
  // each transition began.
  std::vector<double> segment_mu(5, 0.0);
  double mu_while_moving = 0.0;
  std::vector<double> stops;
  for (std::size_t i = 1; i < b.samples.size(); ++i) {
    const auto& c = b.samples[i];
    const double d_mu = c.primary_mu - b.samples[i - 1].primary_mu;
    if (c.transition && !b.samples[i - 1].transition) stops.push_back(c.primary_mu);
    if (c.transition && b.samples[i - 1].transition) mu_while_moving += d_mu;
    const double x = c.actual.leaf_b_mm[30];
    const auto k = static_cast<std::size_t>(std::clamp(std::lround((x + 40.0) / 15.0), 0L, 4L));
    if (d_mu <= 0.0) continue;
    EXPECT_LT(std::abs(x - (-40.0 + 15.0 * static_cast<double>(k))), 1.5)
        << "MU given with leaf B31 between segments at " << c.primary_mu << " MU";
    segment_mu[k] += d_mu;
  }
  for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(segment_mu[k], 20.0, 0.05) << "segment " << k;
  EXPECT_LT(mu_while_moving, 1e-6);
  ASSERT_EQ(stops.size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) {
    EXPECT_NEAR(stops[k], 20.0 * static_cast<double>(k + 1), 0.02) << "transition " << k;
  }
}

// A leaf that cannot reach the next segment: the beam stays off, and the beam is interrupted
// when the transition has not completed within the hold timeout, at the segment's MU. Resumed on
// a machine without the fault, the rest is delivered exactly.
TEST(DeliverySession, LeafStuckInAStepAndShootMoveInterruptsWithTheBeamOff) {
  Rig rig(test::make_step_and_shoot_plan(5, 15.0));
  const auto result = rig.deliver(rig.inject_after_beam_on({FaultKind::kLeafStuck, 30, 0, 0}, 0.5));
  ASSERT_EQ(result.status, "interrupted");
  const auto& b = result.beams[0];
  EXPECT_EQ(b.beam_holds, 0);
  ASSERT_FALSE(b.interrupts.empty());
  EXPECT_EQ(b.interrupts[0].code, "leaf_deviation");
  EXPECT_EQ(b.interrupts[0].element, 30);
  EXPECT_NE(b.interrupts[0].message.find("transition to control point 2 not completed within"),
            std::string::npos)
      << b.interrupts[0].message;
  EXPECT_NEAR(b.delivered_primary_mu, 20.0, 0.02);
  sim::SimulatedMachine fixed(8);
  ASSERT_FALSE(fixed.machine().bring_up(rig.profile).has_value());
  TreatmentRecord record(rig.dir / "record.db", rig.report.plan_checksum);
  EXPECT_NEAR(record.delivered_mu(1, "SS"), b.delivered_primary_mu, 1e-9);
  DeliverySession resume(rig.plan, rig.report, rig.profile, fixed.machine(), record);
  const auto done = resume.run();
  ASSERT_EQ(done.status, "completed");
  EXPECT_EQ(done.beams[0].transitions, 3);
  EXPECT_EQ(done.beams[0].beam_holds, 0);
  EXPECT_NEAR(record.delivered_mu(1, "SS"), 100.0, 0.05);
}

}  // namespace
}  // namespace linac::delivery
