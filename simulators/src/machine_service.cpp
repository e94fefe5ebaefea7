#include "linac/simulators/machine_service.hpp"

#include <algorithm>
#include <cmath>

#include "linac/machine.pb.h"

namespace linac::sim {

MachineService::MachineService(SimulatedMachine& machine) : sim_(machine) {}

namespace {

void add_fault(const hal::Fault& f, pb::Response* r) {
  auto* m = r->add_faults();
  m->set_code(hal::to_string(f.code));
  m->set_device(f.device);
  m->set_element(f.element);
  m->set_value(f.value);
  m->set_limit(f.limit);
  m->set_time_s(f.time_s);
  m->set_message(f.message);
}

// Set-points are idempotent; one-shot actions run only when `run_actions` is true.
void apply(const pb::Command& c, hal::Machine& m, bool run_actions) {
  if (c.has_mlc()) {
    hal::MlcCommand cmd;
    cmd.leaf_a_mm.assign(c.mlc().leaf_a_mm().begin(), c.mlc().leaf_a_mm().end());
    cmd.leaf_b_mm.assign(c.mlc().leaf_b_mm().begin(), c.mlc().leaf_b_mm().end());
    (void)m.mlc->command(cmd);
  }
  if (c.has_jaws()) {
    (void)m.jaws->command({c.jaws().x1_mm(), c.jaws().x2_mm(), c.jaws().y1_mm(), c.jaws().y2_mm()});
  }
  if (c.has_gantry()) {
    (void)m.gantry->command({c.gantry().angle_deg(), c.gantry().max_speed_deg_per_s()});
  }
  if (c.has_collimator()) {
    (void)m.collimator->command({c.collimator().angle_deg(), c.collimator().max_speed_deg_per_s()});
  }
  if (c.has_couch()) {
    const auto& p = c.couch();
    (void)m.couch->command({p.lateral_mm(), p.longitudinal_mm(), p.vertical_mm(), p.rotation_deg(),
                            p.pitch_deg(), p.roll_deg()});
  }
  if (run_actions && c.reset_dose_counts()) m.dose->reset_counts();
  if (run_actions && c.has_imager()) {
    (void)m.imager->request(
        {c.imager().binning(), c.imager().half_fan(), c.imager().photons_per_pixel()});
  }
  if (c.has_beam()) {
    const auto& b = c.beam();
    (void)m.beam->command({b.beam_on(), b.dose_rate_mu_per_min(), b.energy_mv(), b.preset_mu()});
  }
}

void fill_telemetry(const hal::Machine& m, double t_s, pb::Telemetry* t) {
  t->set_time_s(t_s);
  for (const double x : m.mlc->state().leaf_a_mm) t->add_leaf_a_mm(x);
  for (const double x : m.mlc->state().leaf_b_mm) t->add_leaf_b_mm(x);
  const auto& j = m.jaws->state();
  t->mutable_jaws()->set_x1_mm(j.x1_mm);
  t->mutable_jaws()->set_x2_mm(j.x2_mm);
  t->mutable_jaws()->set_y1_mm(j.y1_mm);
  t->mutable_jaws()->set_y2_mm(j.y2_mm);
  t->set_gantry_deg(m.gantry->state().angle_deg);
  t->set_gantry_speed_deg_per_s(m.gantry->state().speed_deg_per_s);
  t->set_collimator_deg(m.collimator->state().angle_deg);
  const auto& c = m.couch->state();
  auto* tc = t->mutable_couch();
  tc->set_lateral_mm(c.lateral_mm);
  tc->set_longitudinal_mm(c.longitudinal_mm);
  tc->set_vertical_mm(c.vertical_mm);
  tc->set_rotation_deg(c.rotation_deg);
  tc->set_pitch_deg(c.pitch_deg);
  tc->set_roll_deg(c.roll_deg);
  t->set_beam_on(m.beam->state().beam_on);
  t->set_dose_rate_mu_per_min(m.beam->state().dose_rate_mu_per_min);
  t->set_primary_mu(m.dose->counts().primary_mu);
  t->set_secondary_mu(m.dose->counts().secondary_mu);
}

}  // namespace

std::string MachineService::handle(std::string_view bytes) {
  pb::Response response;
  auto refuse = [&](const std::string& why) {
    ++refused_;
    response.set_accepted(false);
    response.set_error(why);
    return response.SerializeAsString();
  };
  if (bytes.size() > kMaxRequestBytes) {
    return refuse("request of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                  std::to_string(kMaxRequestBytes));
  }
  pb::Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return refuse("malformed request (" + std::to_string(bytes.size()) + " bytes)");
  }
  response.set_sequence(request.sequence());
  if (request.has_hello() && request.session() != session_) {
    // A new controller session (e.g. a controller restarted after a crash): its sequence
    // numbers and one-shot actions start afresh; undelivered faults stay queued for it.
    session_ = request.session();
    last_sequence_ = 0;
    last_action_id_ = 0;
    for (auto& u : unacked_) {
      pending_faults_.insert(pending_faults_.end(), u.faults.begin(), u.faults.end());
    }
    unacked_.clear();
  }
  if (request.session() != session_) {
    return refuse("session " + std::to_string(request.session()) +
                  " is not the machine's current session (greet first)");
  }
  if (request.sequence() <= last_sequence_) {
    return refuse("sequence " + std::to_string(request.sequence()) +
                  " replayed or out of order (last " + std::to_string(last_sequence_) + ")");
  }
  const double now = sim_.clock().now_s();
  if (request.has_hello()) {
    last_sequence_ = request.sequence();
    ++served_;
    response.set_accepted(true);
    fill_telemetry(sim_.machine(), now, response.mutable_telemetry());
    return response.SerializeAsString();
  }
  if (!std::isfinite(request.time_s()) || request.time_s() < now || request.time_s() > now + 60.0) {
    return refuse("time_s must be finite, not before " + std::to_string(now) +
                  " s and at most 60 s ahead");
  }
  if (request.body_case() == pb::Request::BODY_NOT_SET) return refuse("request without a body");
  last_sequence_ = request.sequence();
  hal::Machine& m = sim_.machine();
  if (request.has_command()) {
    const std::uint64_t id = request.command().action_id();
    const bool run_actions = id == 0 || id > last_action_id_;
    if (id > last_action_id_) last_action_id_ = id;
    apply(request.command(), m, run_actions);
  }
  m.write_all(now);
  sim_.clock().advance_to(request.time_s());
  m.read_all(request.time_s());
  ++served_;
  response.set_accepted(true);
  fill_telemetry(m, request.time_s(), response.mutable_telemetry());
  // This cycle's faults and projection join the unacknowledged ones; the response carries them
  // all, so a reply lost on the way is made good by the next one.
  while (!unacked_.empty() && unacked_.front().sequence <= request.acknowledged_sequence()) {
    unacked_.pop_front();
  }
  Unacked now_entry{request.sequence(), std::move(pending_faults_), nullptr};
  pending_faults_.clear();
  for (auto& f : m.take_faults()) now_entry.faults.push_back(std::move(f));
  if (auto p = m.imager->take_projection()) {
    now_entry.projection = std::make_shared<const hal::KvProjection>(std::move(*p));
  }
  if (now_entry.projection) {
    // Responses carry the newest projection only: an older one would never be sent again.
    for (auto& u : unacked_) u.projection.reset();
    std::erase_if(unacked_, [](const Unacked& u) { return u.faults.empty(); });
  }
  if (!now_entry.faults.empty() || now_entry.projection) unacked_.push_back(std::move(now_entry));
  // Bounds memory and the responses' size for a client that never acknowledges (a conforming
  // one keeps this short): entries, and the faults they hold.
  constexpr std::size_t kMaxUnacked = 1024;
  while (unacked_.size() > kMaxUnacked) unacked_.pop_front();
  bound_held_faults();
  std::shared_ptr<const hal::KvProjection> newest;
  for (const auto& u : unacked_) {
    for (const auto& f : u.faults) add_fault(f, &response);
    if (u.projection) newest = u.projection;
  }
  if (newest) {
    const hal::KvProjection& p = *newest;
    auto* out = response.mutable_projection();
    out->set_time_s(p.time_s);
    out->set_gantry_deg(p.gantry_deg);
    out->set_kv_source_angle_deg(p.kv_source_angle_deg);
    out->set_source_axis_distance_mm(p.source_axis_distance_mm);
    out->set_source_imager_distance_mm(p.source_imager_distance_mm);
    out->set_pixel_pitch_mm(p.pixel_pitch_mm);
    out->set_detector_offset_mm(p.detector_offset_mm);
    out->set_columns(p.columns);
    out->set_rows(p.rows);
    out->mutable_line_integral()->Assign(p.line_integral.begin(), p.line_integral.end());
  }
  return response.SerializeAsString();
}

std::size_t MachineService::held_faults() const {
  std::size_t n = pending_faults_.size();
  for (const auto& u : unacked_) n += u.faults.size();
  return n;
}

std::size_t MachineService::held_projections() const {
  return static_cast<std::size_t>(std::count_if(unacked_.begin(), unacked_.end(),
                                                [](const Unacked& u) { return u.projection; }));
}

void MachineService::bound_held_faults() {
  std::size_t held = held_faults();
  if (held <= kMaxUnacknowledgedFaults) return;
  // The oldest first, leaving room for the fault that reports the loss.
  const std::size_t excess = held - kMaxUnacknowledgedFaults + 1;
  std::size_t dropped = 0;
  for (auto it = unacked_.begin(); it != unacked_.end() && dropped < excess; ++it) {
    const std::size_t n = std::min(excess - dropped, it->faults.size());
    it->faults.erase(it->faults.begin(), it->faults.begin() + static_cast<std::ptrdiff_t>(n));
    dropped += n;
  }
  std::erase_if(unacked_, [](const Unacked& u) { return u.faults.empty() && !u.projection; });
  dropped_faults_ += dropped;
  hal::Machine& m = sim_.machine();
  const double now = sim_.clock().now_s();
  if (m.beam->state().beam_on) {
    const hal::BeamState b = m.beam->state();
    (void)m.beam->command({false, 0.0, b.energy_mv, b.preset_mu});
    m.write_all(now);
  }
  hal::Fault f{hal::FaultCode::kLinkLost,
               "link",
               -1,
               static_cast<double>(held),
               static_cast<double>(kMaxUnacknowledgedFaults),
               now,
               "the controller has not acknowledged " + std::to_string(held) + " faults (limit " +
                   std::to_string(kMaxUnacknowledgedFaults) + "): the " + std::to_string(dropped) +
                   " oldest dropped, beam ended by the machine"};
  if (unacked_.empty()) unacked_.push_back({last_sequence_, {}, nullptr});
  unacked_.back().faults.push_back(std::move(f));
}

void MachineService::inject_link_loss(double onset_s, double duration_s) {
  link_losses_.push_back({onset_s, duration_s, -1.0});
}

bool MachineService::link_down(double real_now_s) {
  const double now = sim_.clock().now_s();
  for (auto& l : link_losses_) {
    if (l.started_real_s < 0.0 && now >= l.onset_s) l.started_real_s = real_now_s;
    if (l.started_real_s >= 0.0 && real_now_s < l.started_real_s + l.duration_s) return true;
  }
  return false;
}

void MachineService::on_controller_silent(double silent_s, double limit_s) {
  hal::Machine& m = sim_.machine();
  if (!m.beam->state().beam_on) return;
  const hal::BeamState b = m.beam->state();
  (void)m.beam->command({false, 0.0, b.energy_mv, b.preset_mu});
  m.write_all(sim_.clock().now_s());
  pending_faults_.push_back(
      {hal::FaultCode::kLinkLost, "link", -1, silent_s, limit_s, sim_.clock().now_s(),
       "controller silent for " + std::to_string(silent_s) + " s: beam ended by the machine"});
}

}  // namespace linac::sim
