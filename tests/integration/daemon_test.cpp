// The simulator daemon as a separate process on loopback, driven through the HAL's ZeroMQ
// client: the same device behaviour as in-process, injected faults, heartbeat loss,
// authentication, and refusal of malformed, oversized, replayed and hostile messages.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>
#include <zmq.hpp>

#include "daemon_fixture.hpp"
#include "linac/core/random.hpp"
#include "linac/hal/remote_machine.hpp"
#include "linac/machine.pb.h"
#include "test_support.hpp"

namespace linac {
namespace {

using test::Daemon;
using test::kLinac;
using test::TempDir;

const MachineProfile& profile() {
  static const MachineProfile p = default_machine_profile();
  return p;
}

// Runs 20 ms cycles of the controller loop until t_end_s.
template <typename F>
void run_until(hal::RemoteMachine& rm, double& t, double t_end_s, F each) {
  while (t + 1e-9 < t_end_s) {
    t += 0.02;
    rm.clock().advance_to(t);
    rm.machine().read_all(t);
    each(t);
    rm.machine().write_all(t);
  }
}

hal::MlcCommand open_field(double half_mm) {
  hal::MlcCommand c;
  c.leaf_a_mm.assign(60, half_mm);
  c.leaf_b_mm.assign(60, -half_mm);
  return c;
}

TEST(Daemon, SameDeviceBehaviourThroughTheClient) {
  Daemon d;
  hal::RemoteMachine rm(d.client_options());
  auto& m = rm.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  double t = 0.0;
  ASSERT_FALSE(m.mlc->command(open_field(20.25)));
  ASSERT_FALSE(m.gantry->command({180.0, 0.0}));
  m.write_all(t);
  double leaf_arrived = -1.0;
  double gantry_arrived = -1.0;
  run_until(rm, t, 45.0, [&](double now) {
    if (leaf_arrived < 0 && std::abs(m.mlc->state().leaf_a_mm[30] - 20.25) < 0.1)
      leaf_arrived = now;
    if (gantry_arrived < 0 && std::abs(m.gantry->state().angle_deg - 180.0) < 0.2)
      gantry_arrived = now;
  });
  EXPECT_GE(leaf_arrived, 20.0 / 25.0);
  EXPECT_LT(leaf_arrived, 20.0 / 25.0 + 0.5);
  EXPECT_GE(gantry_arrived, 180.0 / 4.8);
  EXPECT_LT(gantry_arrived, 180.0 / 4.8 + 3.0);
  EXPECT_FALSE(rm.link_lost());
  // Refused on the client side exactly as by an in-process device.
  auto bad = open_field(10.0);
  bad.leaf_a_mm[7] = -3.0;
  bad.leaf_b_mm[7] = -2.8;
  const auto f = m.mlc->command(bad);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->code, hal::FaultCode::kCommandCollision);
  // A beam of 20 MU ends at its preset on the primary channel.
  m.dose->reset_counts();
  ASSERT_FALSE(m.beam->command({true, 600.0, 6.0, 20.0}));
  run_until(rm, t, t + 4.0, [](double) {});
  EXPECT_FALSE(m.beam->state().beam_on);
  EXPECT_NEAR(m.dose->counts().primary_mu, 20.0, 0.02);
  EXPECT_NEAR(m.dose->counts().secondary_mu, 20.0, 0.2);
  // SIGTERM stops the daemon cleanly.
  d.process().signal(SIGTERM);
  EXPECT_EQ(d.process().wait(10.0), 0);
  EXPECT_NE(d.process().stderr_text().find("stopping: served"), std::string::npos);
}

TEST(Daemon, InjectedFaultsFromAFileAppearAtTheirOnset) {
  TempDir tmp;
  test::write_text(tmp / "faults.json",
                   R"({"faults": [{"kind": "leaf_stuck", "element": 12, "onset_s": 0.5},
                                  {"kind": "gantry_stall", "onset_s": 2.0}]})");
  Daemon d({"--faults", (tmp / "faults.json").string()});
  hal::RemoteMachine rm(d.client_options());
  auto& m = rm.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  ASSERT_FALSE(m.mlc->command(open_field(20.0)));
  ASSERT_FALSE(m.gantry->command({90.0, 0.0}));
  m.write_all(0.0);
  double t = 0.0;
  double at_onset = 0.0;
  std::vector<hal::Fault> faults;
  run_until(rm, t, 4.0, [&](double now) {
    if (std::abs(now - 0.52) < 1e-6) at_onset = m.mlc->state().leaf_a_mm[12];
    for (auto& f : m.take_faults()) faults.push_back(f);
  });
  EXPECT_GT(at_onset, 5.0);
  EXPECT_NEAR(m.mlc->state().leaf_a_mm[12], at_onset, 0.1);
  EXPECT_NEAR(m.mlc->state().leaf_a_mm[13], 20.0, 0.1);
  ASSERT_EQ(faults.size(), 1u);
  EXPECT_EQ(faults[0].code, hal::FaultCode::kStall);
  EXPECT_GE(faults[0].time_s, 2.0);
  EXPECT_LT(faults[0].time_s, 2.5);
}

TEST(Daemon, LostHeartbeatIsSeenWithinThreeCyclesAndTheLinkResumes) {
  Daemon d;
  auto options = d.client_options();
  options.reply_timeout_s = 0.0;  // the profile's cycle: 20 ms
  hal::RemoteMachine rm(options);
  auto& m = rm.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  double t = 0.0;
  // Warm up the connection (CURVE handshake) before measuring.
  for (int i = 0; i < 200 && (t < 0.2 || rm.missed_cycles() != 0); ++i) {
    run_until(rm, t, t + 0.02, [](double) {});
  }
  ASSERT_EQ(rm.missed_cycles(), 0);
  d.process().signal(SIGSTOP);  // the link goes silent
  int cycles = 0;
  bool lost = false;
  while (cycles < 10 && !lost) {
    run_until(rm, t, t + 0.02, [](double) {});
    ++cycles;
    for (const auto& f : m.take_faults()) lost = lost || f.code == hal::FaultCode::kLinkLost;
  }
  EXPECT_TRUE(lost);
  EXPECT_LE(cycles, profile().interlocks.heartbeat_loss_cycles);
  d.process().signal(SIGCONT);
  for (int i = 0; i < 200 && rm.link_lost(); ++i) run_until(rm, t, t + 0.02, [](double) {});
  EXPECT_FALSE(rm.link_lost());
}

TEST(Daemon, EndsTheBeamWhenTheControllerFallsSilent) {
  Daemon d;
  hal::RemoteMachine rm(d.client_options());
  auto& m = rm.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  double t = 0.0;
  m.dose->reset_counts();
  ASSERT_FALSE(m.beam->command({true, 600.0, 6.0, 500.0}));
  run_until(rm, t, 0.5, [](double) {});
  ASSERT_TRUE(m.beam->state().beam_on);
  const double mu_before = m.dose->counts().primary_mu;
  // The controller stops for 0.3 s of real time (heartbeat limit: 3 x 20 ms).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::vector<hal::Fault> faults;
  run_until(rm, t, t + 0.04, [&](double) {
    for (auto& f : m.take_faults()) faults.push_back(f);
  });
  EXPECT_FALSE(m.beam->state().beam_on);
  EXPECT_LT(m.dose->counts().primary_mu - mu_before, 0.5);  // no dose while silent
  ASSERT_FALSE(faults.empty());
  EXPECT_EQ(faults[0].code, hal::FaultCode::kLinkLost);
  EXPECT_NE(faults[0].message.find("controller silent"), std::string::npos);
  EXPECT_NE(d.process().stderr_text().find("beam ended"), std::string::npos);
}

TEST(Daemon, InjectedLinkLossIsSeenWithinThreeCyclesOfItsOnset) {
  TempDir tmp;
  test::write_text(tmp / "faults.json",
                   R"({"faults": [{"kind": "link_loss", "onset_s": 0.5, "magnitude": 0.3}]})");
  Daemon d({"--faults", (tmp / "faults.json").string()});
  auto options = d.client_options();
  options.reply_timeout_s = 0.0;  // the profile's 20 ms cycle
  hal::RemoteMachine rm(options);
  auto& m = rm.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  double t = 0.0;
  double lost_at = -1.0;
  double last_answered = 0.0;
  int lost_faults = 0;
  run_until(rm, t, 3.0, [&](double now) {
    if (rm.missed_cycles() == 0) last_answered = now;
    for (const auto& f : m.take_faults()) {
      if (f.code == hal::FaultCode::kLinkLost) {
        ++lost_faults;
        if (lost_at < 0.0) lost_at = now;
      }
    }
  });
  // A slow first handshake may cost early cycles; the injected loss starts at 0.5 s.
  ASSERT_GE(lost_faults, 1);
  EXPECT_GE(lost_at, 0.5);
  EXPECT_LE(lost_at, 0.5 + 0.02 * (profile().interlocks.heartbeat_loss_cycles + 1) + 1e-9);
  EXPECT_FALSE(rm.link_lost());           // it came back
  EXPECT_NEAR(last_answered, 3.0, 1e-9);  // and serves to the end
}

TEST(Daemon, UnauthenticatedClientGetsNothingAndIsLogged) {
  Daemon d;
  hal::RemoteMachine stranger(d.client_options("stranger"));
  auto& m = stranger.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  double t = 0.0;
  run_until(stranger, t, 0.1, [](double) {});
  EXPECT_TRUE(stranger.link_lost());
  EXPECT_TRUE(m.mlc->state().leaf_a_mm.empty());  // no state was ever served
  // The daemon logged the refusal and still serves its authorized client.
  hal::RemoteMachine friendly(d.client_options());
  ASSERT_FALSE(friendly.machine().bring_up(profile()));
  double t2 = 0.0;
  run_until(friendly, t2, 0.1, [](double) {});
  EXPECT_FALSE(friendly.link_lost());
  EXPECT_EQ(friendly.machine().mlc->state().leaf_a_mm.size(), 60u);
  EXPECT_NE(d.process().stderr_text().find("refused unauthenticated client"), std::string::npos);
}

/// A REQ socket speaking the protocol directly, as a third party's client would
/// (docs/protocol.md), with the authorized client's keys and a 5 s receive timeout.
zmq::socket_t raw_client(zmq::context_t& ctx, const Daemon& d) {
  const auto o = d.client_options();
  zmq::socket_t s(ctx, zmq::socket_type::req);
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::rcvtimeo, 5000);
  s.set(zmq::sockopt::curve_serverkey, o.server_public_key);
  s.set(zmq::sockopt::curve_publickey, o.client_keys.public_z85);
  s.set(zmq::sockopt::curve_secretkey, o.client_keys.secret_z85);
  s.connect(d.endpoint());
  return s;
}

TEST(Daemon, RefusesBadMessagesAndKeepsServing) {
  Daemon d;
  zmq::context_t ctx(1);
  zmq::socket_t s = raw_client(ctx, d);
  auto exchange = [&](const std::string& bytes) {
    s.send(zmq::buffer(bytes), zmq::send_flags::none);
    zmq::message_t reply;
    if (!s.recv(reply)) throw std::runtime_error("no reply");
    pb::Response r;
    if (!r.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
      throw std::runtime_error("bad reply");
    }
    return r;
  };
  pb::Request ok;
  ok.set_sequence(10);
  ok.set_time_s(0.02);
  ok.set_heartbeat(true);
  EXPECT_TRUE(exchange(ok.SerializeAsString()).accepted());
  EXPECT_FALSE(exchange(ok.SerializeAsString()).accepted());                          // replayed
  EXPECT_FALSE(exchange("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").accepted());  // malformed
  EXPECT_FALSE(exchange(std::string(100 * 1024, '\x01')).accepted());                 // oversized
  // Hostile values inside a well-formed command: refused by the devices as faults.
  pb::Request hostile;
  hostile.set_sequence(11);
  hostile.set_time_s(0.04);
  for (int n = 0; n < 60; ++n) {
    hostile.mutable_command()->mutable_mlc()->add_leaf_a_mm(n == 0 ? 1e308 : 10.0);
    hostile.mutable_command()->mutable_mlc()->add_leaf_b_mm(-10.0);
  }
  hostile.mutable_command()->mutable_couch()->set_pitch_deg(std::nan(""));
  const auto r = exchange(hostile.SerializeAsString());
  ASSERT_TRUE(r.accepted());
  ASSERT_EQ(r.faults_size(), 2);
  EXPECT_EQ(r.faults(0).code(), "command_out_of_range");
  EXPECT_EQ(r.faults(1).code(), "command_invalid");
  // A bounded random-message run over the wire.
  Rng rng(11);
  for (int i = 0; i < 2000; ++i) {
    std::string junk(static_cast<std::size_t>(rng.uniform() * 200.0), '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng.next_u64() & 0xFF);
    (void)exchange(junk);
  }
  pb::Request after;
  after.set_sequence(1u << 30);
  after.set_time_s(1.0);
  after.set_heartbeat(true);
  const auto last = exchange(after.SerializeAsString());
  EXPECT_TRUE(last.accepted()) << last.error();
  EXPECT_EQ(last.telemetry().leaf_a_mm_size(), 60);
  EXPECT_EQ(d.process().wait(0.1), -1);  // still running
}

/// The resident memory of process `pid` in kB (VmRSS), 0 when unreadable.
long resident_kb(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// SAFETY.md row 28: telemetry at 1 kHz for 10 minutes. A controller exchanging one request per
// millisecond of machine time (as fast as the link carries them, so the message rate is at least
// the row's) with the gantry sweeping from end to end: every reply is the one asked for (its
// sequence echoes the request's, its telemetry carries the request's time: none missing, none
// out of order, none refused), the gantry reached both ends again and again (the telemetry is
// live), and the daemon's memory after ten minutes is what it was after one (within 1 MB).
TEST(Daemon, TelemetryAtOneKilohertzForTenMinutesLosesNothingAndKeepsMemoryFlat) {
  Daemon d;
  zmq::context_t ctx(1);
  zmq::socket_t s = raw_client(ctx, d);
  constexpr std::uint64_t kCycles = 600000;  // 10 minutes at 1 kHz
  std::uint64_t wrong_sequence = 0, wrong_time = 0, refused = 0;
  double previous_gantry = 0.0;
  double heading = 1.0;
  int reversals = 0;
  long rss_after_1_min_kb = 0;
  pb::Request req;
  zmq::message_t reply;
  pb::Response r;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t n = 1; n <= kCycles; ++n) {
    const double t = static_cast<double>(n) * 0.001;
    req.Clear();
    req.set_sequence(n);
    req.set_time_s(t);
    req.set_acknowledged_sequence(n - 1);
    if (n == 1 || (n % 1000 == 0 && std::abs(previous_gantry) > 170.0)) {
      // Turn towards the other end once near one (and at the start).
      heading = previous_gantry > 0.0 ? -1.0 : 1.0;
      ++reversals;
      req.mutable_command()->mutable_gantry()->set_angle_deg(175.0 * heading);
    } else {
      req.set_heartbeat(true);
    }
    s.send(zmq::buffer(req.SerializeAsString()), zmq::send_flags::none);
    ASSERT_TRUE(s.recv(reply)) << "no reply to request " << n;
    ASSERT_TRUE(r.ParseFromArray(reply.data(), static_cast<int>(reply.size())));
    refused += r.accepted() ? 0 : 1;
    wrong_sequence += r.sequence() == n ? 0 : 1;
    wrong_time += std::abs(r.telemetry().time_s() - t) < 1e-9 ? 0 : 1;
    previous_gantry = r.telemetry().gantry_deg();
    if (n == 60000) rss_after_1_min_kb = resident_kb(d.process().pid());
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long rss_end_kb = resident_kb(d.process().pid());
  std::printf(
      "600,000 exchanges in %.1f s (%.0f per s); gantry reversals %d; daemon RSS %ld kB "
      "after 1 min, %ld kB after 10 min\n",
      wall_s, static_cast<double>(kCycles) / wall_s, reversals, rss_after_1_min_kb, rss_end_kb);
  EXPECT_EQ(refused, 0U);
  EXPECT_EQ(wrong_sequence, 0U);
  EXPECT_EQ(wrong_time, 0U);
  EXPECT_GE(reversals, 10);  // the gantry did turn: 10 minutes is 10 sweeps at 6 deg/s
  ASSERT_GT(rss_after_1_min_kb, 0);
  EXPECT_LE(rss_end_kb - rss_after_1_min_kb, 1024) << "the daemon's memory grew";
}

TEST(Daemon, KvProjectionOfTheBuiltInPatientThroughTheLink) {
  TempDir tmp;
  const auto made =
      test::run({kLinac, "case", "make", "--out", (tmp / "case").string(), "--spacing-mm", "5"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  Daemon d({"--subject", (tmp / "case").string()});
  // A reply timeout shorter than a projection takes: the reply carrying it is missed, the
  // request is sent again, and the projection must still arrive, once.
  auto options = d.client_options();
  options.reply_timeout_s = 0.0;  // the profile's 20 ms cycle; a projection takes longer
  hal::RemoteMachine rm(options);
  auto& m = rm.machine();
  ASSERT_FALSE(m.bring_up(profile()));
  double t = 0.0;
  for (int i = 0; i < 200 && (t < 0.1 || rm.missed_cycles() != 0); ++i) {
    run_until(rm, t, t + 0.02, [](double) {});
  }
  ASSERT_FALSE(m.imager->request({4, true, 0.0}));
  std::optional<hal::KvProjection> p;
  int received = 0;
  const double t_request = t;
  // Cycle until it arrives (a sanitizer build projects slowly), then a while longer: it must
  // not come twice, and the link must be healthy again.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!p && std::chrono::steady_clock::now() < deadline) {
    run_until(rm, t, t + 0.02, [&](double) {
      if (auto q = m.imager->take_projection()) p = std::move(q), ++received;
    });
  }
  for (int i = 0; i < 400 && (rm.missed_cycles() != 0 || i < 50); ++i) {
    run_until(rm, t, t + 0.02, [&](double) {
      if (auto q = m.imager->take_projection()) ++received;
    });
  }
  EXPECT_FALSE(rm.link_lost());
  EXPECT_EQ(received, 1);  // exactly once, even if a slow reply was missed on the way
  ASSERT_TRUE(p.has_value()) << d.process().stderr_text();
  EXPECT_EQ(p->columns, 256);
  EXPECT_EQ(p->rows, 192);
  EXPECT_DOUBLE_EQ(p->detector_offset_mm, 148.0);
  // Requested after the write of cycle t: latched by the next write, taken at the read after.
  EXPECT_NEAR(p->time_s, t_request + 0.04, 1e-9);
  ASSERT_EQ(p->line_integral.size(), 256u * 192u);
  // Lateral rays through about 300 mm of abdomen: line integrals of several units; air is 0.
  const float peak = *std::max_element(p->line_integral.begin(), p->line_integral.end());
  const float low = *std::min_element(p->line_integral.begin(), p->line_integral.end());
  EXPECT_GT(peak, 4.0F);
  EXPECT_LT(peak, 12.0F);
  EXPECT_LT(low, 0.5F);
}

TEST(Daemon, BadStartIsBadInput) {
  TempDir tmp;
  const auto r =
      test::run({kLinac, "sim", "--bind", "tcp://127.0.0.1:*", "--server-key",
                 (tmp / "none.key").string(), "--authorized-key", (tmp / "none.pub").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("none.key: no such file"), std::string::npos) << r.err;
  test::write_text(tmp / "k.key", "public abc\n");
  const auto owner_only = std::filesystem::perms::owner_read | std::filesystem::perms::owner_write;
  std::filesystem::permissions(tmp / "k.key", owner_only);
  const auto r2 =
      test::run({kLinac, "sim", "--bind", "tcp://127.0.0.1:*", "--server-key",
                 (tmp / "k.key").string(), "--authorized-key", (tmp / "k.key").string()});
  EXPECT_EQ(r2.exit_code, 2);
  EXPECT_NE(r2.err.find("no valid public key"), std::string::npos) << r2.err;
  // A real key pair, its secret file opened to others: refused before anything is served.
  ASSERT_EQ(test::run({kLinac, "sim", "keygen", "--out", (tmp / "s").string()}).exit_code, 0);
  std::filesystem::permissions(tmp / "s.key", std::filesystem::perms::others_read,
                               std::filesystem::perm_options::add);
  const auto r3 =
      test::run({kLinac, "sim", "--bind", "tcp://127.0.0.1:*", "--server-key",
                 (tmp / "s.key").string(), "--authorized-key", (tmp / "s.pub").string()});
  EXPECT_EQ(r3.exit_code, 2);
  EXPECT_NE(r3.err.find("s.key: holds a secret key and is open to others (mode 0604)"),
            std::string::npos)
      << r3.err;
}

}  // namespace
}  // namespace linac
