// The daemon's message handling: valid cycles, refusal of oversized, malformed, replayed and
// hostile requests, and a bounded random-message run after which it still serves.
#include "linac/simulators/machine_service.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "linac/core/random.hpp"
#include "linac/machine.pb.h"

namespace linac::sim {
namespace {

class MachineServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(sim_.machine().bring_up(default_machine_profile())); }
  pb::Response send(const pb::Request& r) {
    pb::Response out;
    EXPECT_TRUE(out.ParseFromString(service_.handle(r.SerializeAsString())));
    return out;
  }
  pb::Request cycle(std::uint64_t seq, double t) {
    pb::Request r;
    r.set_sequence(seq);
    r.set_time_s(t);
    r.set_heartbeat(true);
    return r;
  }
  SimulatedMachine sim_{5};
  MachineService service_{sim_};
};

TEST_F(MachineServiceTest, CommandsMoveTheMachineAndTelemetryComesBack) {
  pb::Request r = cycle(1, 0.02);
  auto* c = r.mutable_command();
  for (int n = 0; n < 60; ++n) {
    c->mutable_mlc()->add_leaf_a_mm(10.0);
    c->mutable_mlc()->add_leaf_b_mm(-10.0);
  }
  c->mutable_gantry()->set_angle_deg(30.0);
  pb::Response resp = send(r);
  ASSERT_TRUE(resp.accepted()) << resp.error();
  EXPECT_EQ(resp.sequence(), 1u);
  for (std::uint64_t s = 2; s <= 100; ++s) resp = send(cycle(s, 0.02 * static_cast<double>(s)));
  ASSERT_TRUE(resp.accepted());
  EXPECT_NEAR(resp.telemetry().time_s(), 2.0, 1e-9);
  ASSERT_EQ(resp.telemetry().leaf_a_mm_size(), 60);
  EXPECT_NEAR(resp.telemetry().leaf_a_mm(20), 10.0, 0.1);
  // 2 s at up to 4.8 deg/s after accelerating at 5 deg/s^2: 9.6 - 4.8^2 / (2 x 5) = 7.3 deg.
  EXPECT_NEAR(resp.telemetry().gantry_deg(), 7.3, 0.3);
  EXPECT_EQ(resp.faults_size(), 0);
}

TEST_F(MachineServiceTest, RefusesReplayedOversizedMalformedAndTimeReversingRequests) {
  ASSERT_TRUE(send(cycle(5, 0.1)).accepted());
  auto replay = send(cycle(5, 0.2));
  EXPECT_FALSE(replay.accepted());
  EXPECT_NE(replay.error().find("replayed"), std::string::npos);
  EXPECT_FALSE(send(cycle(4, 0.3)).accepted());
  auto back = send(cycle(6, 0.05));
  EXPECT_FALSE(back.accepted());
  EXPECT_NE(back.error().find("time_s"), std::string::npos);
  EXPECT_FALSE(send(cycle(7, std::nan(""))).accepted());
  EXPECT_FALSE(send(cycle(8, 1e308)).accepted());
  pb::Response big;
  ASSERT_TRUE(big.ParseFromString(service_.handle(std::string(kMaxRequestBytes + 1, 'x'))));
  EXPECT_FALSE(big.accepted());
  EXPECT_NE(big.error().find("exceeds the limit"), std::string::npos);
  pb::Response junk;
  ASSERT_TRUE(junk.ParseFromString(service_.handle("\xff\xff\xff\xff garbage")));
  EXPECT_FALSE(junk.accepted());
  EXPECT_NE(junk.error().find("malformed"), std::string::npos);
  // A refused request does not consume its sequence number, and service goes on.
  EXPECT_TRUE(send(cycle(6, 0.2)).accepted());
  EXPECT_EQ(service_.refused(), 7u);
}

TEST_F(MachineServiceTest, HostileValuesAreRefusedByTheDevicesAsFaults) {
  pb::Request r = cycle(1, 0.02);
  auto* c = r.mutable_command();
  for (int n = 0; n < 60; ++n) {
    c->mutable_mlc()->add_leaf_a_mm(n == 3 ? std::nan("") : 10.0);
    c->mutable_mlc()->add_leaf_b_mm(-10.0);
  }
  c->mutable_gantry()->set_angle_deg(1e308);
  c->mutable_beam()->set_beam_on(true);
  c->mutable_beam()->set_dose_rate_mu_per_min(-5.0);
  const pb::Response resp = send(r);
  ASSERT_TRUE(resp.accepted());
  ASSERT_EQ(resp.faults_size(), 3);
  EXPECT_EQ(resp.faults(0).code(), "command_invalid");
  EXPECT_EQ(resp.faults(0).element(), 3);
  EXPECT_EQ(resp.faults(1).code(), "command_out_of_range");
  EXPECT_EQ(resp.faults(1).device(), "gantry");
  EXPECT_EQ(resp.faults(2).device(), "beam");
  EXPECT_FALSE(resp.telemetry().beam_on());
}

TEST_F(MachineServiceTest, FaultsOfALostReplyComeAgainUntilAcknowledged) {
  pb::Request r = cycle(1, 0.02);
  r.mutable_command()->mutable_gantry()->set_angle_deg(500.0);
  ASSERT_EQ(send(r).faults_size(), 1);
  // The client never saw reply 1: it acknowledges nothing, and the fault comes again.
  pb::Request again = cycle(2, 0.04);
  again.set_acknowledged_sequence(0);
  const auto second = send(again);
  ASSERT_EQ(second.faults_size(), 1);
  EXPECT_EQ(second.faults(0).device(), "gantry");
  // However many quiet cycles pass unacknowledged, it is still there.
  pb::Response later;
  for (std::uint64_t s = 3; s < 600; ++s) later = send(cycle(s, 0.02 * static_cast<double>(s)));
  ASSERT_EQ(later.faults_size(), 1);
  // Once a reply carrying it is acknowledged, it is gone.
  pb::Request acked = cycle(600, 12.0);
  acked.set_acknowledged_sequence(599);
  EXPECT_EQ(send(acked).faults_size(), 0);
}

TEST_F(MachineServiceTest, AcknowledgedFaultsAreNotSentAgain) {
  pb::Request r = cycle(1, 0.02);
  r.mutable_command()->mutable_gantry()->set_angle_deg(500.0);
  ASSERT_EQ(send(r).faults_size(), 1);
  pb::Request second = cycle(2, 0.04);
  second.set_acknowledged_sequence(1);
  ASSERT_EQ(send(second).faults_size(), 0);
  // Once reply 2 is acknowledged, it is gone.
  pb::Request third = cycle(3, 0.06);
  third.set_acknowledged_sequence(2);
  EXPECT_EQ(send(third).faults_size(), 0);
}

// Bounded state under a client that never acknowledges: a fault every cycle (a gantry angle
// out of range) for 1,000 cycles with the beam on. The machine holds at most
// kMaxUnacknowledgedFaults, drops the oldest, ends the beam and says so; each response stays
// bounded. A conforming client then acknowledges and the queue empties.
TEST_F(MachineServiceTest, FaultsHeldForAClientThatNeverAcknowledgesAreBounded) {
  pb::Request on = cycle(1, 0.02);
  auto* b = on.mutable_command()->mutable_beam();
  b->set_beam_on(true);
  b->set_dose_rate_mu_per_min(600.0);
  b->set_energy_mv(6.0);
  b->set_preset_mu(1000.0);
  ASSERT_TRUE(send(on).accepted());
  pb::Response last;
  bool beam_was_on = false;
  for (std::uint64_t s = 2; s <= 1000; ++s) {
    pb::Request r = cycle(s, 0.02 * static_cast<double>(s));
    r.mutable_command()->mutable_gantry()->set_angle_deg(500.0);
    last = send(r);
    ASSERT_TRUE(last.accepted());
    ASSERT_LE(static_cast<std::size_t>(last.faults_size()), kMaxUnacknowledgedFaults) << s;
    ASSERT_LE(service_.held_faults(), kMaxUnacknowledgedFaults) << s;
    if (s == 100) beam_was_on = last.telemetry().beam_on();
  }
  EXPECT_TRUE(beam_was_on);
  EXPECT_FALSE(last.telemetry().beam_on());  // ended by the machine when faults were dropped
  EXPECT_GE(service_.dropped_faults(), 999u - kMaxUnacknowledgedFaults);
  const auto& newest = last.faults(last.faults_size() - 1);
  EXPECT_EQ(newest.code(), "link_lost");
  EXPECT_NE(newest.message().find("has not acknowledged"), std::string::npos) << newest.message();
  pb::Request acked = cycle(1001, 20.02);
  acked.set_acknowledged_sequence(1000);
  EXPECT_EQ(send(acked).faults_size(), 0);
  EXPECT_EQ(service_.held_faults(), 0u);
}

// kV projections requested every cycle by a client that never acknowledges: only the newest is
// kept (the one a response carries), not one per cycle.
TEST_F(MachineServiceTest, OnlyTheNewestUnacknowledgedProjectionIsHeld) {
  Grid g;
  g.dims = {41, 41, 41};
  g.spacing_mm = Eigen::Vector3d::Constant(4.0);
  g.origin_mm = Eigen::Vector3d::Constant(-80.0);
  Volume<float> water(g, 0.02F);
  sim_.set_imaging_subject(std::make_shared<Volume<float>>(std::move(water)));
  double last_time = -1.0;
  for (std::uint64_t s = 1; s <= 40; ++s) {
    pb::Request r = cycle(s, 0.05 * static_cast<double>(s));
    r.mutable_command()->mutable_imager()->set_binning(8);
    const auto resp = send(r);
    ASSERT_TRUE(resp.accepted()) << resp.error();
    ASSERT_LE(service_.held_projections(), 1u) << s;
    if (resp.has_projection()) {
      EXPECT_GT(resp.projection().time_s(), last_time);
      last_time = resp.projection().time_s();
    }
  }
  EXPECT_GT(last_time, 1.0);
}

// Every greeting of a new session carries the faults not yet acknowledged over to it: a client
// greeting with a new session before every command keeps them bounded too.
TEST_F(MachineServiceTest, NewSessionsDoNotAccumulateFaults) {
  double t = 0.0;
  for (std::uint64_t k = 1; k <= 400; ++k) {
    pb::Request hello;
    hello.set_sequence(1);
    hello.set_session(k);
    hello.set_hello(true);
    ASSERT_TRUE(send(hello).accepted());
    t += 0.02;
    pb::Request r = cycle(2, t);
    r.set_session(k);
    r.mutable_command()->mutable_gantry()->set_angle_deg(500.0);
    r.mutable_command()->mutable_collimator()->set_angle_deg(-900.0);
    const auto resp = send(r);
    ASSERT_TRUE(resp.accepted()) << resp.error();
    ASSERT_LE(service_.held_faults(), kMaxUnacknowledgedFaults) << k;
  }
  EXPECT_GT(service_.dropped_faults(), 0u);
}

TEST_F(MachineServiceTest, OneShotActionsRunOncePerActionId) {
  pb::Request r = cycle(1, 0.02);
  r.mutable_command()->mutable_beam()->set_beam_on(true);
  r.mutable_command()->mutable_beam()->set_dose_rate_mu_per_min(600.0);
  r.mutable_command()->mutable_beam()->set_energy_mv(6.0);
  r.mutable_command()->mutable_beam()->set_preset_mu(100.0);
  r.mutable_command()->set_reset_dose_counts(true);
  r.mutable_command()->set_action_id(1);
  ASSERT_TRUE(send(r).accepted());
  pb::Response resp;
  for (std::uint64_t s = 2; s <= 50; ++s) resp = send(cycle(s, 0.02 * static_cast<double>(s)));
  const double mu = resp.telemetry().primary_mu();
  ASSERT_GT(mu, 5.0);
  // The same command sent again (its reply was lost): the counts must not be reset.
  r.set_sequence(51);
  r.set_time_s(1.02);
  resp = send(r);
  EXPECT_GE(resp.telemetry().primary_mu(), mu);
  // A new action id does reset them.
  r.set_sequence(52);
  r.set_time_s(1.04);
  r.mutable_command()->set_action_id(2);
  EXPECT_LT(send(r).telemetry().primary_mu(), 0.5);
}

TEST_F(MachineServiceTest, RandomAndMutatedMessagesNeverCrashIt) {
  Rng rng(2026);
  pb::Request valid = cycle(1, 0.02);
  for (int n = 0; n < 60; ++n) {
    valid.mutable_command()->mutable_mlc()->add_leaf_a_mm(5.0);
    valid.mutable_command()->mutable_mlc()->add_leaf_b_mm(-5.0);
  }
  const std::string base = valid.SerializeAsString();
  for (int i = 0; i < 20000; ++i) {
    std::string msg;
    if (i % 2 == 0) {
      msg.resize(static_cast<std::size_t>(rng.uniform() * 300.0));
      for (auto& ch : msg) ch = static_cast<char>(rng.next_u64() & 0xFF);
    } else {
      msg = base;
      const int flips = 1 + static_cast<int>(rng.uniform() * 8.0);
      for (int f = 0; f < flips; ++f) {
        msg[static_cast<std::size_t>(rng.uniform() * static_cast<double>(msg.size()))] =
            static_cast<char>(rng.next_u64() & 0xFF);
      }
    }
    pb::Response r;
    ASSERT_TRUE(r.ParseFromString(service_.handle(msg))) << "iteration " << i;
  }
  // Still serving: a fresh, well-formed request with a higher sequence is accepted.
  const auto ok = send(cycle(~std::uint64_t{0}, sim_.clock().now_s() + 0.02));
  EXPECT_TRUE(ok.accepted()) << ok.error();
  EXPECT_GT(service_.refused(), 10000u);
}

}  // namespace
}  // namespace linac::sim
