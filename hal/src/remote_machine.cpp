#include "linac/hal/remote_machine.hpp"

#include <deque>
#include <map>
#include <random>
#include <zmq.hpp>

#include "linac/hal/command_checks.hpp"
#include "linac/machine.pb.h"

namespace linac::hal {
namespace {

// State shared by the device proxies: the socket, the outgoing commands, the last telemetry.
class Link {
 public:
  explicit Link(const RemoteMachineOptions& o) : options_(o) { connect(); }

  /// Takes the profile's limits; the reply timeout defaults to one control cycle.
  void set_profile(const MachineProfile& p) {
    profile_ = p;
    configured_ = true;
    if (options_.reply_timeout_s <= 0.0) {
      socket_->set(zmq::sockopt::rcvtimeo,
                   std::max(1, static_cast<int>(profile_.interlocks.control_cycle_s * 1000.0)));
    }
  }
  [[nodiscard]] bool configured() const { return configured_; }
  [[nodiscard]] const MachineProfile& profile() const { return profile_; }
  pb::Command& outbox() { return outbox_; }
  /// Marks the outbox as carrying a one-shot action (dose-count reset, projection); the daemon
  /// performs it once however often the command is sent again.
  void mark_action() {
    if (outbox_.action_id() == 0) outbox_.set_action_id(++next_action_id_);
  }
  [[nodiscard]] const pb::Telemetry& telemetry() const { return telemetry_; }
  std::optional<KvProjection>& projection() { return projection_; }
  std::vector<Fault>& faults(const std::string& device) { return faults_[device]; }
  [[nodiscard]] int missed() const { return missed_; }
  [[nodiscard]] bool lost() const { return lost_; }

  /// Opens a session with the machine (hello); returns the machine's time, or nothing when no
  /// accepted reply came within `timeout_s`.
  std::optional<double> greet(double timeout_s) {
    std::random_device rd;
    session_ = (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ 1u;
    pb::Request req;
    req.set_sequence(++sequence_);
    req.set_session(session_);
    req.set_hello(true);
    const std::string bytes = req.SerializeAsString();
    socket_->set(zmq::sockopt::rcvtimeo, std::max(1, static_cast<int>(timeout_s * 1000.0)));
    zmq::message_t reply;
    zmq::recv_result_t got;
    try {
      socket_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      got = socket_->recv(reply);
    } catch (const zmq::error_t&) {
      got.reset();
    }
    const double cycle_s = options_.reply_timeout_s > 0.0 ? options_.reply_timeout_s
                           : configured_                  ? profile_.interlocks.control_cycle_s
                                                          : 0.02;
    socket_->set(zmq::sockopt::rcvtimeo, std::max(1, static_cast<int>(cycle_s * 1000.0)));
    pb::Response resp;
    if (!got || !resp.ParseFromArray(reply.data(), static_cast<int>(reply.size())) ||
        !resp.accepted()) {
      return std::nullopt;
    }
    acknowledged_ = resp.sequence();
    telemetry_ = resp.telemetry();
    synced_t_s_ = telemetry_.time_s();
    return telemetry_.time_s();
  }

  /// One round trip to virtual time t_s (once per t).
  void sync(double t_s) {
    if (t_s <= synced_t_s_) return;
    synced_t_s_ = t_s;
    pb::Request req;
    req.set_sequence(++sequence_);
    req.set_session(session_);
    req.set_time_s(t_s);
    req.set_acknowledged_sequence(acknowledged_);
    if (outbox_.ByteSizeLong() > 0) {
      *req.mutable_command() = outbox_;
    } else {
      req.set_heartbeat(true);
    }
    const std::string bytes = req.SerializeAsString();
    zmq::recv_result_t got;
    zmq::message_t reply;
    try {
      socket_->send(zmq::buffer(bytes), zmq::send_flags::dontwait);
      got = socket_->recv(reply);
    } catch (const zmq::error_t&) {
      got.reset();
    }
    if (!got) {
      ++missed_;
      const int limit = configured_ ? profile_.interlocks.heartbeat_loss_cycles : 3;
      if (missed_ >= limit && !lost_) {
        lost_ = true;
        faults_["link"].push_back(
            {FaultCode::kLinkLost, "link", -1, static_cast<double>(missed_),
             static_cast<double>(limit), t_s,
             "no reply from " + options_.endpoint + " for " + std::to_string(missed_) + " cycles"});
      }
      return;
    }
    pb::Response resp;
    if (!resp.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) {
      faults_["link"].push_back({FaultCode::kCommandInvalid, "link", -1, 0.0, 0.0, t_s,
                                 "unreadable reply from " + options_.endpoint});
      return;
    }
    missed_ = 0;
    lost_ = false;
    if (!resp.accepted()) {
      faults_["link"].push_back({FaultCode::kCommandInvalid, "link", -1, 0.0, 0.0, t_s,
                                 "request refused by the machine: " + resp.error()});
      return;
    }
    outbox_.Clear();
    acknowledged_ = resp.sequence();
    telemetry_ = resp.telemetry();
    if (resp.has_projection() && resp.projection().time_s() != last_projection_time_s_) {
      last_projection_time_s_ = resp.projection().time_s();
      const auto& p = resp.projection();
      KvProjection k;
      k.time_s = p.time_s();
      k.gantry_deg = p.gantry_deg();
      k.kv_source_angle_deg = p.kv_source_angle_deg();
      k.source_axis_distance_mm = p.source_axis_distance_mm();
      k.source_imager_distance_mm = p.source_imager_distance_mm();
      k.pixel_pitch_mm = p.pixel_pitch_mm();
      k.detector_offset_mm = p.detector_offset_mm();
      k.columns = p.columns();
      k.rows = p.rows();
      k.line_integral.assign(p.line_integral().begin(), p.line_integral().end());
      projection_ = std::move(k);
    }
    for (const auto& f : resp.faults()) {
      faults_[f.device()].push_back(
          {parse_fault_code(f.code()).value_or(FaultCode::kCommandInvalid), f.device(), f.element(),
           f.value(), f.limit(), f.time_s(), f.message()});
    }
  }

 private:
  void connect() {
    socket_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::req);
    socket_->set(zmq::sockopt::linger, 0);
    socket_->set(zmq::sockopt::req_relaxed, 1);
    socket_->set(zmq::sockopt::req_correlate, 1);
    socket_->set(zmq::sockopt::curve_serverkey, options_.server_public_key);
    socket_->set(zmq::sockopt::curve_publickey, options_.client_keys.public_z85);
    socket_->set(zmq::sockopt::curve_secretkey, options_.client_keys.secret_z85);
    const double timeout_s = options_.reply_timeout_s > 0.0 ? options_.reply_timeout_s : 0.02;
    socket_->set(zmq::sockopt::rcvtimeo, std::max(1, static_cast<int>(timeout_s * 1000.0)));
    socket_->connect(options_.endpoint);
  }

  RemoteMachineOptions options_;
  zmq::context_t context_{1};
  std::unique_ptr<zmq::socket_t> socket_;
  MachineProfile profile_;
  bool configured_ = false;
  pb::Command outbox_;
  pb::Telemetry telemetry_;
  std::optional<KvProjection> projection_;
  std::map<std::string, std::vector<Fault>> faults_;
  std::uint64_t sequence_ = 0;
  std::uint64_t session_ = 0;
  std::uint64_t acknowledged_ = 0;
  std::uint64_t next_action_id_ = 0;
  double last_projection_time_s_ = -1.0;
  double synced_t_s_ = -1.0;
  int missed_ = 0;
  bool lost_ = false;
};

// Lifecycle, time and the fault queue of one proxied device.
class Proxy : public virtual Device {
 public:
  Proxy(std::string name, Link& link) : link_(link), name_(std::move(name)) {}
  [[nodiscard]] std::string name() const override { return name_; }
  std::optional<Fault> configure(const MachineProfile& profile) override {
    link_.set_profile(profile);
    state_ = LifecycleState::kInactive;
    return std::nullopt;
  }
  std::optional<Fault> activate() override {
    if (state_ == LifecycleState::kUnconfigured) {
      return Fault{FaultCode::kNotActive, name_, -1, 0, 0, 0, "activate before configure"};
    }
    state_ = LifecycleState::kActive;
    return std::nullopt;
  }
  void deactivate() override {
    if (state_ == LifecycleState::kActive) state_ = LifecycleState::kInactive;
  }
  [[nodiscard]] LifecycleState lifecycle() const override { return state_; }
  void read(double t_s) override {
    link_.sync(t_s);
    time_s_ = t_s;
    refresh();
  }
  void write(double /*t_s*/) override {
    if (state_ == LifecycleState::kActive) flush();
  }
  std::vector<Fault> take_faults() override {
    auto out = std::exchange(link_.faults(name_), {});
    if (name_ == "beam") {  // link faults are reported with the beam, which they concern most
      auto link = std::exchange(link_.faults("link"), {});
      out.insert(out.end(), link.begin(), link.end());
    }
    return out;
  }

 protected:
  virtual void refresh() = 0;
  virtual void flush() = 0;
  std::optional<Fault> admit(std::optional<Fault> f) {
    if (state_ != LifecycleState::kActive) {
      f = Fault{FaultCode::kNotActive, name_, -1, 0, 0, 0, "command refused: device not active"};
    }
    if (f) {
      f->time_s = time_s_;
      link_.faults(name_).push_back(*f);
    }
    return f;
  }
  Link& link_;
  double time_s_ = 0.0;

 private:
  std::string name_;
  LifecycleState state_ = LifecycleState::kUnconfigured;
};

class MlcProxy final : public Proxy, public Mlc {
 public:
  explicit MlcProxy(Link& l) : Proxy("mlc", l) {}
  const MlcState& state() const override { return state_; }
  std::optional<Fault> command(const MlcCommand& c) override {
    if (auto f = admit(link_.configured() ? check_mlc_command(link_.profile(), c) : std::nullopt)) {
      return f;
    }
    pending_ = c;
    return std::nullopt;
  }

 private:
  void refresh() override {
    const auto& t = link_.telemetry();
    state_.leaf_a_mm.assign(t.leaf_a_mm().begin(), t.leaf_a_mm().end());
    state_.leaf_b_mm.assign(t.leaf_b_mm().begin(), t.leaf_b_mm().end());
    if (!state_.leaf_a_mm.empty()) {
      const auto [alo, ahi] = std::minmax_element(state_.leaf_a_mm.begin(), state_.leaf_a_mm.end());
      const auto [blo, bhi] = std::minmax_element(state_.leaf_b_mm.begin(), state_.leaf_b_mm.end());
      state_.carriage_a_mm = 0.5 * (*alo + *ahi);
      state_.carriage_b_mm = 0.5 * (*blo + *bhi);
    }
  }
  void flush() override {
    if (!pending_) return;
    auto* m = link_.outbox().mutable_mlc();
    m->Clear();
    for (const double x : pending_->leaf_a_mm) m->add_leaf_a_mm(x);
    for (const double x : pending_->leaf_b_mm) m->add_leaf_b_mm(x);
    pending_.reset();
  }
  MlcState state_;
  std::optional<MlcCommand> pending_;
};

class JawsProxy final : public Proxy, public Jaws {
 public:
  explicit JawsProxy(Link& l) : Proxy("jaws", l) {}
  const JawState& state() const override { return state_; }
  std::optional<Fault> command(const JawCommand& c) override {
    if (auto f = admit(link_.configured() ? check_jaw_command(link_.profile(), c) : std::nullopt)) {
      return f;
    }
    pending_ = c;
    return std::nullopt;
  }

 private:
  void refresh() override {
    const auto& j = link_.telemetry().jaws();
    state_ = {j.x1_mm(), j.x2_mm(), j.y1_mm(), j.y2_mm()};
  }
  void flush() override {
    if (!pending_) return;
    auto* j = link_.outbox().mutable_jaws();
    j->set_x1_mm(pending_->x1_mm);
    j->set_x2_mm(pending_->x2_mm);
    j->set_y1_mm(pending_->y1_mm);
    j->set_y2_mm(pending_->y2_mm);
    pending_.reset();
  }
  JawState state_;
  std::optional<JawCommand> pending_;
};

class AxisProxy final : public Proxy, public RotationAxis {
 public:
  AxisProxy(const std::string& name, Link& l) : Proxy(name, l), gantry_(name == "gantry") {}
  const AxisState& state() const override { return state_; }
  std::optional<Fault> command(const AxisCommand& c) override {
    std::optional<Fault> f;
    if (link_.configured()) {
      f = check_axis_command(gantry_ ? link_.profile().gantry : link_.profile().collimator, name(),
                             c);
    }
    if (auto refused = admit(f)) return refused;
    pending_ = c;
    return std::nullopt;
  }

 private:
  void refresh() override {
    const auto& t = link_.telemetry();
    state_.angle_deg = gantry_ ? t.gantry_deg() : t.collimator_deg();
    state_.speed_deg_per_s = gantry_ ? t.gantry_speed_deg_per_s() : 0.0;
  }
  void flush() override {
    if (!pending_) return;
    auto* a = gantry_ ? link_.outbox().mutable_gantry() : link_.outbox().mutable_collimator();
    a->set_angle_deg(pending_->angle_deg);
    a->set_max_speed_deg_per_s(pending_->max_speed_deg_per_s);
    pending_.reset();
  }
  bool gantry_;
  AxisState state_;
  std::optional<AxisCommand> pending_;
};

class CouchProxy final : public Proxy, public Couch {
 public:
  explicit CouchProxy(Link& l) : Proxy("couch", l) {}
  const CouchPose& state() const override { return state_; }
  std::optional<Fault> command(const CouchPose& c) override {
    if (auto f =
            admit(link_.configured() ? check_couch_command(link_.profile(), c) : std::nullopt)) {
      return f;
    }
    pending_ = c;
    return std::nullopt;
  }

 private:
  void refresh() override {
    const auto& c = link_.telemetry().couch();
    state_ = {c.lateral_mm(),   c.longitudinal_mm(), c.vertical_mm(),
              c.rotation_deg(), c.pitch_deg(),       c.roll_deg()};
  }
  void flush() override {
    if (!pending_) return;
    auto* c = link_.outbox().mutable_couch();
    c->set_lateral_mm(pending_->lateral_mm);
    c->set_longitudinal_mm(pending_->longitudinal_mm);
    c->set_vertical_mm(pending_->vertical_mm);
    c->set_rotation_deg(pending_->rotation_deg);
    c->set_pitch_deg(pending_->pitch_deg);
    c->set_roll_deg(pending_->roll_deg);
    pending_.reset();
  }
  CouchPose state_;
  std::optional<CouchPose> pending_;
};

class BeamProxy final : public Proxy, public BeamControl, public DoseMonitor {
 public:
  explicit BeamProxy(Link& l) : Proxy("beam", l) {}
  const BeamState& state() const override { return beam_; }
  const DoseState& counts() const override { return dose_; }
  std::optional<Fault> command(const BeamCommand& c) override {
    if (auto f =
            admit(link_.configured() ? check_beam_command(link_.profile(), c) : std::nullopt)) {
      return f;
    }
    pending_ = c;
    return std::nullopt;
  }
  void reset_counts() override {
    link_.outbox().set_reset_dose_counts(true);
    link_.mark_action();
    dose_ = {};
  }

 private:
  void refresh() override {
    const auto& t = link_.telemetry();
    beam_.beam_on = t.beam_on();
    beam_.dose_rate_mu_per_min = t.dose_rate_mu_per_min();
    if (!link_.outbox().reset_dose_counts()) dose_ = {t.primary_mu(), t.secondary_mu()};
  }
  void flush() override {
    if (!pending_) return;
    auto* b = link_.outbox().mutable_beam();
    b->set_beam_on(pending_->beam_on);
    b->set_dose_rate_mu_per_min(pending_->dose_rate_mu_per_min);
    b->set_energy_mv(pending_->energy_mv);
    b->set_preset_mu(pending_->preset_mu);
    beam_.energy_mv = pending_->energy_mv;
    beam_.preset_mu = pending_->preset_mu;
    pending_.reset();
  }
  BeamState beam_;
  DoseState dose_;
  std::optional<BeamCommand> pending_;
};

class ImagerProxy final : public Proxy, public KvImager {
 public:
  explicit ImagerProxy(Link& l) : Proxy("imager", l) {}
  std::optional<Fault> request(const KvRequest& req) override {
    if (auto f =
            admit(link_.configured() ? check_kv_request(link_.profile(), req) : std::nullopt)) {
      return f;
    }
    pending_ = req;
    return std::nullopt;
  }
  std::optional<KvProjection> take_projection() override {
    return std::exchange(link_.projection(), {});
  }

 private:
  void refresh() override {}
  void flush() override {
    if (!pending_) return;
    link_.mark_action();
    auto* r = link_.outbox().mutable_imager();
    r->set_binning(pending_->binning);
    r->set_half_fan(pending_->half_fan);
    r->set_photons_per_pixel(pending_->photons_per_pixel);
    pending_.reset();
  }
  std::optional<KvRequest> pending_;
};

}  // namespace

struct RemoteMachine::Impl final : LinkMonitor {
  explicit Impl(const RemoteMachineOptions& o)
      : link(o),
        mlc(link),
        jaws(link),
        gantry("gantry", link),
        collimator("collimator", link),
        couch(link),
        beam(link),
        imager(link) {
    machine.clock = &clock;
    machine.link = this;
    machine.mlc = &mlc;
    machine.jaws = &jaws;
    machine.gantry = &gantry;
    machine.collimator = &collimator;
    machine.couch = &couch;
    machine.beam = &beam;
    machine.dose = &beam;
    machine.imager = &imager;
  }
  Link link;
  MlcProxy mlc;
  JawsProxy jaws;
  AxisProxy gantry;
  AxisProxy collimator;
  CouchProxy couch;
  BeamProxy beam;
  ImagerProxy imager;
  VirtualClock clock;
  Machine machine;
  [[nodiscard]] int missed_cycles() const override { return link.missed(); }
  [[nodiscard]] bool lost() const override { return link.lost(); }
};

RemoteMachine::RemoteMachine(const RemoteMachineOptions& options)
    : impl_(std::make_unique<Impl>(options)) {}
RemoteMachine::~RemoteMachine() = default;
Machine& RemoteMachine::machine() {
  return impl_->machine;
}
VirtualClock& RemoteMachine::clock() {
  return impl_->clock;
}
int RemoteMachine::missed_cycles() const {
  return impl_->link.missed();
}
bool RemoteMachine::connect(double timeout_s) {
  const auto t = impl_->link.greet(timeout_s);
  if (!t) return false;
  impl_->clock.advance_to(*t);
  return true;
}
bool RemoteMachine::link_lost() const {
  return impl_->link.lost();
}

}  // namespace linac::hal
