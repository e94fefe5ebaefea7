#include "linac/simulators/sim_machine.hpp"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <numbers>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"
#include "linac/core/random.hpp"
#include "linac/core/text.hpp"
#include "linac/hal/command_checks.hpp"
#include "linac/simulators/kv_projector.hpp"
#include "linac/simulators/servo_axis.hpp"

namespace linac::sim {
namespace {

using hal::Fault;
using hal::FaultCode;

// Lifecycle, fault queue, time keeping and injected faults shared by the simulated devices.
class SimDevice : public virtual hal::Device {
 public:
  SimDevice(std::string name, std::uint64_t seed) : rng_(seed), name_(std::move(name)) {}
  [[nodiscard]] std::string name() const override { return name_; }
  std::optional<Fault> configure(const MachineProfile& profile) override {
    profile_ = profile;
    on_configure();
    state_ = hal::LifecycleState::kInactive;
    return std::nullopt;
  }
  std::optional<Fault> activate() override {
    if (state_ == hal::LifecycleState::kUnconfigured) {
      return make_fault(FaultCode::kNotActive, -1, 0, 0, "activate before configure");
    }
    state_ = hal::LifecycleState::kActive;
    return std::nullopt;
  }
  void deactivate() override {
    if (state_ == hal::LifecycleState::kActive) state_ = hal::LifecycleState::kInactive;
  }
  [[nodiscard]] hal::LifecycleState lifecycle() const override { return state_; }
  void read(double t_s) override {
    if (t_s <= time_s_) return;
    const double dt = t_s - time_s_;
    time_s_ = t_s;
    apply_due_faults();
    simulate(dt);
    measure();
  }
  void write(double /*t_s*/) override {
    if (state_ == hal::LifecycleState::kActive) apply_command();
  }
  std::vector<Fault> take_faults() override { return std::exchange(faults_, {}); }
  void inject(const InjectedFault& f) { pending_.push_back(f); }

 protected:
  virtual void on_configure() = 0;
  virtual void simulate(double dt_s) = 0;
  virtual void measure() = 0;
  virtual void apply_command() = 0;
  virtual void start_fault(const InjectedFault& f) = 0;

  Fault make_fault(FaultCode code, int element, double value, double limit, std::string message) {
    Fault f{code, name_, element, value, limit, time_s_, std::move(message)};
    return f;
  }
  std::optional<Fault> raise(FaultCode code, int element, double value, double limit,
                             std::string message) {
    Fault f = make_fault(code, element, value, limit, std::move(message));
    faults_.push_back(f);
    return f;
  }
  /// Queues a refusal found by the shared command checks, stamped with the device's time.
  std::optional<Fault> refuse(std::optional<Fault> f) {
    if (!f) return f;
    f->time_s = time_s_;
    queue(*f);
    return f;
  }
  void queue(const Fault& f) { faults_.push_back(f); }
  std::optional<Fault> check_active() {
    if (state_ != hal::LifecycleState::kActive) {
      return raise(FaultCode::kNotActive, -1, 0.0, 0.0, "command refused: device not active");
    }
    return std::nullopt;
  }
  double noise(double sd) { return sd > 0.0 ? rng_.normal(0.0, sd) : 0.0; }

  MachineProfile profile_;
  double time_s_ = 0.0;
  Rng rng_;

 private:
  void apply_due_faults() {
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->onset_s <= time_s_) {
        start_fault(*it);
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::string name_;
  hal::LifecycleState state_ = hal::LifecycleState::kUnconfigured;
  std::vector<Fault> faults_;
  std::vector<InjectedFault> pending_;
};

// --- MLC ----------------------------------------------------------------------------------------
class SimMlc final : public SimDevice, public hal::Mlc {
 public:
  explicit SimMlc(std::uint64_t seed) : SimDevice("mlc", seed) {}
  const hal::MlcState& state() const override { return state_; }

  std::optional<Fault> command(const hal::MlcCommand& cmd) override {
    if (auto f = check_active()) return f;
    if (auto f = refuse(hal::check_mlc_command(profile_, cmd))) return f;
    pending_ = cmd;
    return std::nullopt;
  }

 private:
  void on_configure() override {
    const auto& m = profile_.mlc;
    const ServoLimits lim{-m.max_retraction_mm, m.max_retraction_mm, m.max_leaf_speed_mm_per_s,
                          m.max_leaf_acceleration_mm_per_s2, m.servo_time_constant_s};
    leaves_.assign(2 * static_cast<std::size_t>(m.leaf_pairs), ServoAxis(lim, 0.0));
    // Start as a closed field on the axis, gap at the minimum.
    for (int n = 0; n < m.leaf_pairs; ++n) {
      leaves_[n] = ServoAxis(lim, m.min_dynamic_gap_mm / 2.0);
      leaves_[n + m.leaf_pairs] = ServoAxis(lim, -m.min_dynamic_gap_mm / 2.0);
    }
    measure();
  }
  void apply_command() override {
    if (!pending_) return;
    const auto pairs = static_cast<std::size_t>(profile_.mlc.leaf_pairs);
    for (std::size_t n = 0; n < pairs; ++n) {
      leaves_[n].set_target(pending_->leaf_a_mm[n]);
      leaves_[n + pairs].set_target(pending_->leaf_b_mm[n]);
    }
    pending_.reset();
  }
  void simulate(double dt_s) override {
    for (auto& l : leaves_) l.step(dt_s);
  }
  void measure() override {
    const auto pairs = static_cast<std::size_t>(profile_.mlc.leaf_pairs);
    const double sd = profile_.mlc.encoder_noise_mm;
    state_.leaf_a_mm.resize(pairs);
    state_.leaf_b_mm.resize(pairs);
    for (std::size_t n = 0; n < pairs; ++n) {
      state_.leaf_a_mm[n] = leaves_[n].position() + noise(sd);
      state_.leaf_b_mm[n] = leaves_[n + pairs].position() + noise(sd);
    }
    const auto [alo, ahi] = std::minmax_element(state_.leaf_a_mm.begin(), state_.leaf_a_mm.end());
    const auto [blo, bhi] = std::minmax_element(state_.leaf_b_mm.begin(), state_.leaf_b_mm.end());
    state_.carriage_a_mm = 0.5 * (*alo + *ahi);
    state_.carriage_b_mm = 0.5 * (*blo + *bhi);
  }
  void start_fault(const InjectedFault& f) override {
    if (f.element < 0 || f.element >= static_cast<int>(leaves_.size())) return;
    auto& leaf = leaves_[static_cast<std::size_t>(f.element)];
    switch (f.kind) {
      case FaultKind::kLeafStuck:
        leaf.set_stuck(true);
        break;
      case FaultKind::kLeafDrift:
        leaf.set_drift(f.magnitude);
        break;
      case FaultKind::kLeafSlow:
        leaf.set_speed_factor(f.magnitude);
        break;
      default:
        break;
    }
  }

  std::vector<ServoAxis> leaves_;  // bank A then bank B
  std::optional<hal::MlcCommand> pending_;
  hal::MlcState state_;
};

// --- Jaws ---------------------------------------------------------------------------------------
class SimJaws final : public SimDevice, public hal::Jaws {
 public:
  explicit SimJaws(std::uint64_t seed) : SimDevice("jaws", seed) {}
  const hal::JawState& state() const override { return state_; }
  std::optional<Fault> command(const hal::JawCommand& c) override {
    if (auto f = check_active()) return f;
    if (auto f = refuse(hal::check_jaw_command(profile_, c))) return f;
    pending_ = c;
    return std::nullopt;
  }

 private:
  void on_configure() override {
    const auto& j = profile_.jaws;
    const ServoLimits x{-j.x_max_open_mm, j.x_max_open_mm, j.max_speed_mm_per_s,
                        10.0 * j.max_speed_mm_per_s, j.servo_time_constant_s};
    const ServoLimits y{-j.y_max_open_mm, j.y_max_open_mm, j.max_speed_mm_per_s,
                        10.0 * j.max_speed_mm_per_s, j.servo_time_constant_s};
    axes_ = {ServoAxis(x, -50.0), ServoAxis(x, 50.0), ServoAxis(y, -50.0), ServoAxis(y, 50.0)};
    measure();
  }
  void apply_command() override {
    if (!pending_) return;
    axes_[0].set_target(pending_->x1_mm);
    axes_[1].set_target(pending_->x2_mm);
    axes_[2].set_target(pending_->y1_mm);
    axes_[3].set_target(pending_->y2_mm);
    pending_.reset();
  }
  void simulate(double dt_s) override {
    for (auto& a : axes_) a.step(dt_s);
  }
  void measure() override {
    const double sd = profile_.jaws.encoder_noise_mm;
    state_ = {axes_[0].position() + noise(sd), axes_[1].position() + noise(sd),
              axes_[2].position() + noise(sd), axes_[3].position() + noise(sd)};
  }
  void start_fault(const InjectedFault& f) override {
    if (f.kind == FaultKind::kJawNotAtPosition && f.element >= 0 && f.element < 4) {
      axes_[static_cast<std::size_t>(f.element)].set_offset(f.magnitude);
    }
  }
  std::array<ServoAxis, 4> axes_;
  std::optional<hal::JawCommand> pending_;
  hal::JawState state_;
};

// --- Gantry and collimator ----------------------------------------------------------------------
class SimAxis final : public SimDevice, public hal::RotationAxis {
 public:
  SimAxis(std::string name, bool is_gantry, std::uint64_t seed)
      : SimDevice(std::move(name), seed), is_gantry_(is_gantry) {}
  const hal::AxisState& state() const override { return state_; }
  std::optional<Fault> command(const hal::AxisCommand& c) override {
    if (auto f = check_active()) return f;
    if (auto f = refuse(hal::check_axis_command(axis_profile(), name(), c))) return f;
    pending_ = c;
    return std::nullopt;
  }

 private:
  const AxisProfile& axis_profile() const {
    return is_gantry_ ? profile_.gantry : profile_.collimator;
  }
  void on_configure() override {
    const auto& a = axis_profile();
    axis_ = ServoAxis({a.min_deg, a.max_deg, a.max_speed_deg_per_s, a.max_acceleration_deg_per_s2,
                       a.servo_time_constant_s},
                      0.0);
    measure();
  }
  void apply_command() override {
    if (!pending_) return;
    axis_.set_target(pending_->angle_deg, pending_->max_speed_deg_per_s);
    pending_.reset();
  }
  void simulate(double dt_s) override {
    axis_.step(dt_s);
    const auto& a = axis_profile();
    // Device-side supervision: overspeed and stall.
    const double limit = a.max_speed_deg_per_s * (1.0 + a.overspeed_tolerance_pct / 100.0);
    const bool over = std::abs(axis_.velocity()) > limit;
    if (over && !overspeed_reported_) {
      raise(FaultCode::kOverspeed, -1, std::abs(axis_.velocity()), limit,
            name() + " turning at " + format_number(std::abs(axis_.velocity())) + " deg/s");
    }
    overspeed_reported_ = over;
    const bool commanded_away =
        std::abs(axis_.target() - axis_.position()) > a.position_tolerance_deg;
    stalled_for_s_ =
        (commanded_away && std::abs(axis_.velocity()) < 1e-3) ? stalled_for_s_ + dt_s : 0.0;
    if (stalled_for_s_ >= 0.2 && !stall_reported_) {
      stall_reported_ = true;
      raise(FaultCode::kStall, -1, axis_.position(), axis_.target(),
            name() + " not moving towards " + format_number(axis_.target()) + " deg");
    }
    if (stalled_for_s_ == 0.0) stall_reported_ = false;
  }
  void measure() override {
    const double sd = axis_profile().encoder_noise_deg;
    state_.angle_deg = axis_.position() + noise(sd);
    state_.speed_deg_per_s = axis_.velocity();
  }
  void start_fault(const InjectedFault& f) override {
    if (f.kind == FaultKind::kGantryStall && is_gantry_) axis_.set_stuck(true);
    if (f.kind == FaultKind::kGantryOverspeed && is_gantry_) axis_.set_speed_factor(f.magnitude);
  }
  bool is_gantry_;
  ServoAxis axis_;
  std::optional<hal::AxisCommand> pending_;
  hal::AxisState state_;
  bool overspeed_reported_ = false;
  bool stall_reported_ = false;
  double stalled_for_s_ = 0.0;
};

// --- Couch --------------------------------------------------------------------------------------
class SimCouch final : public SimDevice, public hal::Couch {
 public:
  explicit SimCouch(std::uint64_t seed) : SimDevice("couch", seed) {}
  const hal::CouchPose& state() const override { return state_; }
  std::optional<Fault> command(const hal::CouchPose& p) override {
    if (auto f = check_active()) return f;
    if (auto f = refuse(hal::check_couch_command(profile_, p))) return f;
    pending_ = p;
    return std::nullopt;
  }

 private:
  void on_configure() override {
    const auto& c = profile_.couch;
    const std::array<double, 6> r = {c.lateral_range_mm,  c.longitudinal_range_mm,
                                     c.vertical_range_mm, c.rotation_range_deg,
                                     c.pitch_range_deg,   c.roll_range_deg};
    for (int n = 0; n < 6; ++n) {
      const double speed = n < 3 ? c.max_speed_mm_per_s : c.max_speed_deg_per_s;
      axes_[static_cast<std::size_t>(n)] = ServoAxis({-r[n], r[n], speed, 10.0 * speed, 0.1}, 0.0);
    }
    measure();
  }
  void apply_command() override {
    if (!pending_) return;
    const std::array<double, 6> v = {pending_->lateral_mm,  pending_->longitudinal_mm,
                                     pending_->vertical_mm, pending_->rotation_deg,
                                     pending_->pitch_deg,   pending_->roll_deg};
    for (std::size_t n = 0; n < 6; ++n) axes_[n].set_target(v[n]);
    pending_.reset();
  }
  void simulate(double dt_s) override {
    for (auto& a : axes_) a.step(dt_s);
  }
  void measure() override {
    const double mm = profile_.couch.position_tolerance_mm / 20.0;
    const double deg = profile_.couch.position_tolerance_deg / 20.0;
    state_ = {axes_[0].position() + noise(mm),  axes_[1].position() + noise(mm),
              axes_[2].position() + noise(mm),  axes_[3].position() + noise(deg),
              axes_[4].position() + noise(deg), axes_[5].position() + noise(deg)};
  }
  void start_fault(const InjectedFault& f) override {
    if (f.kind == FaultKind::kCouchNotAtPosition && f.element >= 0 && f.element < 6) {
      axes_[static_cast<std::size_t>(f.element)].set_offset(f.magnitude);
    }
  }
  std::array<ServoAxis, 6> axes_;
  std::optional<hal::CouchPose> pending_;
  hal::CouchPose state_;
};

// --- Beam control and the two monitor chambers --------------------------------------------------
class SimBeam final : public SimDevice, public hal::BeamControl, public hal::DoseMonitor {
 public:
  explicit SimBeam(std::uint64_t seed) : SimDevice("beam", seed) {}
  const hal::BeamState& state() const override { return beam_; }
  const hal::DoseState& counts() const override { return dose_; }
  std::optional<Fault> command(const hal::BeamCommand& c) override {
    if (auto f = check_active()) return f;
    if (auto f = refuse(hal::check_beam_command(profile_, c))) return f;
    pending_ = c;
    return std::nullopt;
  }
  void reset_counts() override {
    dose_ = {};
    true_mu_ = 0.0;
  }

 private:
  void on_configure() override {
    // Each chamber has its own small calibration error, fixed for the session.
    const double sd = profile_.dose.chamber_noise_pct / 100.0;
    gain_primary_ = 1.0 + noise(sd);
    gain_secondary_ = 1.0 + noise(sd);
  }
  void apply_command() override {
    if (!pending_) return;
    commanded_rate_ = pending_->dose_rate_mu_per_min;
    beam_.energy_mv = pending_->energy_mv;
    beam_.preset_mu = pending_->preset_mu;
    beam_.beam_on = pending_->beam_on && dose_.primary_mu < pending_->preset_mu;
    if (!beam_.beam_on) servo_rate_ = 0.0;
    pending_.reset();
  }
  void simulate(double dt_s) override {
    const auto& d = profile_.dose;
    const double max_step = 1e-3;
    while (dt_s > 1e-12) {
      const double dt = std::min(dt_s, max_step);
      dt_s -= dt;
      sim_time_s_ += dt;
      if (!beam_.beam_on) {
        beam_.dose_rate_mu_per_min = 0.0;
        continue;
      }
      const double target = dropout_ ? 0.0 : commanded_rate_ * excess_factor_;
      servo_rate_ += (target - servo_rate_) * std::min(1.0, dt / d.dose_rate_servo_time_constant_s);
      const double ripple =
          d.dose_rate_ripple_pct / 100.0 * std::sin(2.0 * std::numbers::pi * 7.0 * sim_time_s_);
      const double rate = std::max(0.0, servo_rate_ * (1.0 + ripple));
      beam_.dose_rate_mu_per_min = rate;
      const double mu = rate / 60.0 * dt;
      true_mu_ += mu;
      const double sd = d.chamber_noise_pct / 100.0;
      if (!primary_stopped_) dose_.primary_mu += mu * gain_primary_ * (1.0 + noise(sd));
      dose_.secondary_mu += mu * gain_secondary_ * secondary_error_ * (1.0 + noise(sd));
      if (dose_.primary_mu >= beam_.preset_mu) {
        beam_.beam_on = false;  // the primary channel ends the beam at the preset
      } else if (dose_.secondary_mu >= beam_.preset_mu + d.secondary_limit_over_preset_mu) {
        beam_.beam_on = false;
        raise(FaultCode::kSecondaryTermination, 1, dose_.secondary_mu,
              beam_.preset_mu + d.secondary_limit_over_preset_mu,
              "secondary channel ended the beam at " + format_number(dose_.secondary_mu) +
                  " MU (preset " + format_number(beam_.preset_mu) + " MU, primary " +
                  format_number(dose_.primary_mu) + " MU)");
      }
      if (!beam_.beam_on) beam_.dose_rate_mu_per_min = 0.0;
    }
  }
  void measure() override {}
  void start_fault(const InjectedFault& f) override {
    switch (f.kind) {
      case FaultKind::kPrimaryChannelStop:
        primary_stopped_ = true;
        break;
      case FaultKind::kChannelDisagreement:
        secondary_error_ = 1.0 + f.magnitude / 100.0;
        break;
      case FaultKind::kDoseRateDropout:
        dropout_ = true;
        break;
      case FaultKind::kDoseRateExcess:
        excess_factor_ = f.magnitude;
        break;
      default:
        break;
    }
  }
  hal::BeamState beam_;
  hal::DoseState dose_;
  std::optional<hal::BeamCommand> pending_;
  double commanded_rate_ = 0.0;
  double servo_rate_ = 0.0;
  double true_mu_ = 0.0;
  double sim_time_s_ = 0.0;
  double gain_primary_ = 1.0;
  double gain_secondary_ = 1.0;
  double secondary_error_ = 1.0;
  double excess_factor_ = 1.0;
  bool primary_stopped_ = false;
  bool dropout_ = false;
};

// --- kV imager ----------------------------------------------------------------------------------
class SimImager final : public SimDevice, public hal::KvImager {
 public:
  SimImager(std::uint64_t seed, const hal::RotationAxis& gantry, const hal::Couch& couch)
      : SimDevice("imager", seed), gantry_(gantry), couch_(couch) {}
  void set_subject(std::shared_ptr<const Volume<float>> mu, iec::PatientPosition position) {
    subject_ = std::move(mu);
    position_ = position;
  }
  std::optional<Fault> request(const hal::KvRequest& req) override {
    if (auto f = check_active()) return f;
    if (auto f = refuse(hal::check_kv_request(profile_, req))) return f;
    if (!subject_) {
      return refuse(Fault{FaultCode::kCommandInvalid, name(), -1, 0.0, 0.0, 0.0,
                          "no imaging subject loaded"});
    }
    pending_ = req;
    return std::nullopt;
  }
  std::optional<hal::KvProjection> take_projection() override { return std::exchange(ready_, {}); }

 private:
  void on_configure() override {}
  void apply_command() override {
    if (pending_) requested_ = std::exchange(pending_, {});
  }
  void simulate(double /*dt_s*/) override {}
  void measure() override {
    if (!requested_ || !subject_) return;
    const auto& c = couch_.state();
    const iec::CouchState couch = hal::couch_state(c);
    ready_ = project_kv(*subject_, iec::patient_to_fixed(position_, couch), profile_.imager,
                        gantry_.state().angle_deg, *requested_, &rng_);
    ready_->time_s = time_s_;
    requested_.reset();
  }
  void start_fault(const InjectedFault& /*f*/) override {}

  const hal::RotationAxis& gantry_;
  const hal::Couch& couch_;
  std::shared_ptr<const Volume<float>> subject_;
  iec::PatientPosition position_ = iec::PatientPosition::kHFS;
  std::optional<hal::KvRequest> pending_;
  std::optional<hal::KvRequest> requested_;
  std::optional<hal::KvProjection> ready_;
};

}  // namespace

struct SimulatedMachine::Devices {
  explicit Devices(std::uint64_t seed)
      : mlc(seed * 8 + 1),
        jaws(seed * 8 + 2),
        gantry("gantry", true, seed * 8 + 3),
        collimator("collimator", false, seed * 8 + 4),
        couch(seed * 8 + 5),
        beam(seed * 8 + 6),
        imager(seed * 8 + 7, gantry, couch) {}
  SimMlc mlc;
  SimJaws jaws;
  SimAxis gantry;
  SimAxis collimator;
  SimCouch couch;
  SimBeam beam;
  SimImager imager;
};

SimulatedMachine::SimulatedMachine(std::uint64_t seed) : devices_(std::make_unique<Devices>(seed)) {
  machine_.clock = &clock_;
  machine_.mlc = &devices_->mlc;
  machine_.jaws = &devices_->jaws;
  machine_.gantry = &devices_->gantry;
  machine_.collimator = &devices_->collimator;
  machine_.couch = &devices_->couch;
  machine_.beam = &devices_->beam;
  machine_.dose = &devices_->beam;
  machine_.imager = &devices_->imager;
}

void SimulatedMachine::set_imaging_subject(std::shared_ptr<const Volume<float>> mu_per_mm,
                                           iec::PatientPosition position) {
  devices_->imager.set_subject(std::move(mu_per_mm), position);
}

SimulatedMachine::~SimulatedMachine() = default;

hal::Machine& SimulatedMachine::machine() {
  return machine_;
}
hal::VirtualClock& SimulatedMachine::clock() {
  return clock_;
}

void SimulatedMachine::inject(const InjectedFault& f) {
  switch (f.kind) {
    case FaultKind::kLeafStuck:
    case FaultKind::kLeafDrift:
    case FaultKind::kLeafSlow:
      devices_->mlc.inject(f);
      break;
    case FaultKind::kGantryStall:
    case FaultKind::kGantryOverspeed:
      devices_->gantry.inject(f);
      break;
    case FaultKind::kPrimaryChannelStop:
    case FaultKind::kChannelDisagreement:
    case FaultKind::kDoseRateDropout:
    case FaultKind::kDoseRateExcess:
      devices_->beam.inject(f);
      break;
    case FaultKind::kJawNotAtPosition:
      devices_->jaws.inject(f);
      break;
    case FaultKind::kCouchNotAtPosition:
      devices_->couch.inject(f);
      break;
    case FaultKind::kLinkLoss:
      break;  // the daemon handles it
  }
}

namespace {
const std::map<std::string, FaultKind>& fault_names() {
  static const std::map<std::string, FaultKind> kNames = {
      {"leaf_stuck", FaultKind::kLeafStuck},
      {"leaf_drift", FaultKind::kLeafDrift},
      {"leaf_slow", FaultKind::kLeafSlow},
      {"gantry_stall", FaultKind::kGantryStall},
      {"gantry_overspeed", FaultKind::kGantryOverspeed},
      {"primary_channel_stop", FaultKind::kPrimaryChannelStop},
      {"channel_disagreement", FaultKind::kChannelDisagreement},
      {"dose_rate_dropout", FaultKind::kDoseRateDropout},
      {"dose_rate_excess", FaultKind::kDoseRateExcess},
      {"jaw_not_at_position", FaultKind::kJawNotAtPosition},
      {"couch_not_at_position", FaultKind::kCouchNotAtPosition},
      {"link_loss", FaultKind::kLinkLoss}};
  return kNames;
}
}  // namespace

FaultKind parse_fault_kind(const std::string& name) {
  const auto it = fault_names().find(name);
  if (it == fault_names().end()) throw InputError("kind", "unknown fault kind '" + name + "'");
  return it->second;
}

std::string to_string(FaultKind kind) {
  for (const auto& [name, k] : fault_names()) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::vector<InjectedFault> load_fault_file(const std::filesystem::path& path) {
  const std::string where = path.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(where, "bad JSON at byte " + std::to_string(e.byte));
  }
  if (!j.is_object() || !j.contains("faults") || !j["faults"].is_array()) {
    throw InputError(where, "expected {\"faults\": [...]}");
  }
  std::vector<InjectedFault> out;
  for (std::size_t n = 0; n < j["faults"].size(); ++n) {
    const auto& e = j["faults"][n];
    const std::string ew = where + ": faults[" + std::to_string(n) + "]";
    if (!e.is_object() || !e.contains("kind") || !e["kind"].is_string()) {
      throw InputError(ew, "needs a \"kind\" string");
    }
    InjectedFault f;
    try {
      f.kind = parse_fault_kind(e["kind"].get<std::string>());
    } catch (const InputError& err) {
      throw InputError(ew, err.what());
    }
    auto number = [&](const char* key, double fallback) {
      if (!e.contains(key)) return fallback;
      if (!e[key].is_number())
        throw InputError(ew, std::string("\"") + key + "\" must be a number");
      const double v = e[key].get<double>();
      if (!std::isfinite(v)) throw InputError(ew, std::string("\"") + key + "\" must be finite");
      return v;
    };
    f.element = static_cast<int>(number("element", 0.0));
    f.onset_s = number("onset_s", 0.0);
    f.magnitude = number("magnitude", 0.0);
    if (f.onset_s < 0.0) throw InputError(ew, "\"onset_s\" must be >= 0");
    out.push_back(f);
  }
  return out;
}

}  // namespace linac::sim
