#include "linac/igrt/setup.hpp"

#include <chrono>
#include <cmath>
#include <numbers>

#include "linac/core/distance_map.hpp"
#include "linac/core/error.hpp"
#include "linac/core/mask.hpp"
#include "linac/core/text.hpp"

namespace linac::igrt {

namespace {

constexpr double kDeg = 180.0 / std::numbers::pi;

}  // namespace

hal::CouchPose corrected_couch(const RigidTransform& reference_to_cbct,
                               iec::PatientPosition position, const hal::CouchPose& couch) {
  // Now the planned point p sits at T(p) in the patient frame of the acquisition, placed in the
  // room by C0. The corrected couch C' must bring T(p) where C0 put p: C' = C0 T^-1, and the
  // table top follows as C' (patient -> table top)^-1 = Rz(rotation) [Rx(pitch) Ry(roll) x + t].
  const RigidTransform c0 = iec::patient_to_fixed(position, hal::couch_state(couch));
  const RigidTransform m =
      c0 * reference_to_cbct.inverse() * iec::patient_to_table_top(position).inverse();
  const Eigen::Matrix3d r = m.rotation();
  const double pitch = std::asin(std::clamp(r(2, 1), -1.0, 1.0));
  const double roll = std::atan2(-r(2, 0), r(2, 2));
  const double yaw = std::atan2(-r(0, 1), r(1, 1));
  const Eigen::Vector3d t =
      Eigen::AngleAxisd(-yaw, Eigen::Vector3d::UnitZ()).toRotationMatrix() * m.translation_mm();
  hal::CouchPose out;
  out.lateral_mm = t.x();
  out.longitudinal_mm = t.y();
  out.vertical_mm = t.z();
  out.rotation_deg = yaw * kDeg;
  out.pitch_deg = pitch * kDeg;
  out.roll_deg = roll * kDeg;
  return out;
}

CouchCorrection difference(const hal::CouchPose& to, const hal::CouchPose& from) {
  CouchCorrection c;
  c.translation_mm =
      Eigen::Vector3d(to.lateral_mm - from.lateral_mm, to.longitudinal_mm - from.longitudinal_mm,
                      to.vertical_mm - from.vertical_mm);
  c.rotation_deg = to.rotation_deg - from.rotation_deg;
  c.pitch_deg = to.pitch_deg - from.pitch_deg;
  c.roll_deg = to.roll_deg - from.roll_deg;
  return c;
}

Mask registration_region(const Case& c, const std::string& preset) {
  const Structure* body = nullptr;
  for (const auto& st : c.structures) {
    if (body == nullptr && (st.role == "external" || st.name == "body")) body = &st;
  }
  const std::string where = "--preset " + preset;
  if (body == nullptr)
    throw InputError(where, "the case has no body (a structure of role external)");
  if (preset == "body") return body->mask;
  if (preset == "bone") {
    const Mask dense = threshold(c.ct, [](std::int16_t hu) { return hu >= 250; });
    const Mask bone = mask_intersection(dense, body->mask);
    if (count_voxels(bone) == 0) throw InputError(where, "no voxel of 250 HU or more in the body");
    return mask_intersection(expand_mm(bone, 5.0), body->mask);
  }
  if (preset == "soft-tissue") {
    const Structure* organ = c.find("liver");
    for (const auto& st : c.structures) {
      if (organ == nullptr && st.role == "target") organ = &st;
    }
    if (organ == nullptr || count_voxels(organ->mask) == 0) {
      throw InputError(where, "the case has no liver and no target to match around");
    }
    return mask_intersection(expand_mm(organ->mask, 10.0), body->mask);
  }
  throw InputError(where, "unknown preset (bone, soft-tissue or body)");
}

std::string registration_refusal(const RegistrationResult& r, double min_overlap,
                                 double min_correlation) {
  if (!r.converged) {
    return "the registration did not converge (" + std::to_string(r.evaluations) + " evaluations)";
  }
  if (r.at_search_bound) {
    return "the registration ended on its search bound (translation " +
           format_measured(r.translation_mm.x(), 1) + ", " +
           format_measured(r.translation_mm.y(), 1) + ", " +
           format_measured(r.translation_mm.z(), 1) + " mm; rotation " +
           format_measured(r.rotation_deg.x(), 2) + ", " + format_measured(r.rotation_deg.y(), 2) +
           ", " + format_measured(r.rotation_deg.z(), 2) +
           " deg): the images do not match within the search range";
  }
  if (r.overlap < min_overlap) {
    return "the images overlap too little (" + format_measured(100.0 * r.overlap, 1) +
           " % of the reference's samples, at least " + format_number(100.0 * min_overlap) +
           " % needed)";
  }
  if (r.correlation < min_correlation) {
    return "the images do not match: their intensities correlate at " +
           format_measured(r.correlation, 2) + " at the result (at least " +
           format_number(min_correlation) + " for the same anatomy)";
  }
  return "";
}

SetupResult run_setup(hal::Machine& m, const MachineProfile& profile, const ImageHU& reference,
                      const Mask* roi, const SetupOptions& o) {
  if (reference.empty()) throw InputError("reference", "the planning image is empty");
  if (roi != nullptr && !roi->grid().same_as(reference.grid())) {
    throw InputError("registration ROI", "is not on the reference image's grid");
  }
  if (o.projections < 36) throw InputError("projections", "at least 36 are needed");
  if (m.imager == nullptr) throw InputError("machine", "has no kV imager");
  auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  SetupResult res;
  const double cycle_s = profile.interlocks.control_cycle_s;
  double t = m.clock->now_s();
  auto step = [&] {
    t += cycle_s;
    m.clock->advance_to(t);
    m.read_all(t);
  };
  auto device_fault = [&]() -> std::optional<std::string> {
    for (const auto& f : m.take_faults()) {
      if (f.code != hal::FaultCode::kLinkLost || (m.link != nullptr && m.link->lost())) {
        return f.describe();
      }
    }
    return std::nullopt;
  };
  step();
  (void)m.take_faults();
  res.couch_before = m.couch->state();

  // --- Acquisition: a 360-degree half-fan scan, one projection every 360/N degrees ----------
  say("acquiring " + std::to_string(o.projections) + " projections");
  const double start = profile.gantry.min_deg + 5.0;  // -180 on a Clinac
  const double stop = start + 360.0;
  m.gantry->command({start, 0.0});
  m.beam->command({false, 0.0, 6.0, 0.0});
  m.write_all(t);
  const double t_start = t;
  while (std::abs(m.gantry->state().angle_deg - start) > 0.05 ||
         std::abs(m.gantry->state().speed_deg_per_s) > 0.01) {
    step();
    if (auto f = device_fault()) {
      res.decision = "stop";
      res.reason = "fault while positioning the gantry: " + *f;
      return res;
    }
    if (t - t_start > o.motion_timeout_s) {
      res.decision = "stop";
      res.reason = "the gantry did not reach " + format_number(start) + " deg";
      return res;
    }
    m.write_all(t);
  }
  const double scan_start = t;
  m.gantry->command({stop, 0.0});
  std::vector<hal::KvProjection> projections;
  const double spacing = 360.0 / o.projections;
  double next = start;
  bool waiting = false;
  while (projections.size() < static_cast<std::size_t>(o.projections)) {
    if (!waiting && m.gantry->state().angle_deg >= next - 1e-9) {
      if (auto f = m.imager->request({o.binning, true, o.photons_per_pixel})) {
        res.decision = "stop";
        res.reason = "imager refused the request: " + f->describe();
        return res;
      }
      waiting = true;
      next += spacing;
    }
    m.write_all(t);
    step();
    if (auto p = m.imager->take_projection()) {
      projections.push_back(std::move(*p));
      waiting = false;
    }
    if (auto f = device_fault()) {
      res.decision = "stop";
      res.reason = "fault during the scan: " + *f;
      return res;
    }
    if (t - scan_start > o.motion_timeout_s + 360.0 / profile.gantry.max_speed_deg_per_s) {
      res.decision = "reimage";
      res.reason = "the scan did not complete (" + std::to_string(projections.size()) + " of " +
                   std::to_string(o.projections) + " projections)";
      return res;
    }
  }
  res.acquire_s = t - scan_start;

  // --- Reconstruction and registration ------------------------------------------------------
  say("reconstructing");
  FdkOptions fo;
  fo.grid = cbct_grid(projections.front(), o.voxel_mm, o.slice_mm);
  fo.position = o.position;
  fo.couch = hal::couch_state(res.couch_before);
  if (o.scatter_correction) {
    fo.scatter_fraction = profile.imager.scatter_scale;
    fo.scatter_sigma_mm = profile.imager.scatter_blur_mm;
  }
  res.cbct = reconstruct_fdk(projections, fo);
  res.recon_s = res.cbct.seconds;
  say("registering to the reference");
  RegistrationOptions ro;
  ro.metric = o.metric;
  ro.high_pass_mm = o.high_pass_mm;
  ro.dof = o.dof;
  ro.fixed_mask = roi;
  ro.moving_mask = &res.cbct.measured;  // not the cone's unmeasured corners
  ro.max_evaluations_per_level = o.max_evaluations_per_level;
  ro.search_translation_mm = 60.0;
  ro.search_rotation_deg = 10.0;
  try {
    res.registration = register_rigid(to_float(reference), to_float(res.cbct.image), ro);
  } catch (const InputError& e) {
    res.decision = "reimage";
    res.reason = std::string("registration failed: ") + e.what();
    return res;
  }
  res.register_s = res.registration.seconds;
  if (std::string why = registration_refusal(res.registration); !why.empty()) {
    res.decision = "reimage";
    res.reason = std::move(why);
    return res;
  }

  // --- Couch correction and decision ----------------------------------------------------------
  res.couch_target =
      corrected_couch(res.registration.fixed_to_moving, o.position, res.couch_before);
  if (o.dof == 3) {
    res.couch_target.rotation_deg = res.couch_before.rotation_deg;
    res.couch_target.pitch_deg = res.couch_before.pitch_deg;
    res.couch_target.roll_deg = res.couch_before.roll_deg;
  }
  res.correction = difference(res.couch_target, res.couch_before);
  const auto& c = profile.couch;
  std::string beyond;
  auto check = [&](const char* what, double value, double limit, const char* unit) {
    if (std::abs(value) > limit) {
      beyond += std::string(beyond.empty() ? "" : "; ") + what + " " + format_measured(value, 2) +
                " " + unit + " beyond " + format_number(limit) + " " + unit;
    }
  };
  check("rotation", res.correction.rotation_deg, c.max_correction_rotation_deg, "deg");
  check("pitch", res.couch_target.pitch_deg, c.pitch_range_deg, "deg");
  check("roll", res.couch_target.roll_deg, c.roll_range_deg, "deg");
  check("lateral", res.couch_target.lateral_mm, c.lateral_range_mm, "mm");
  check("longitudinal", res.couch_target.longitudinal_mm, c.longitudinal_range_mm, "mm");
  check("vertical", res.couch_target.vertical_mm, c.vertical_range_mm, "mm");
  if (!beyond.empty()) {
    res.decision = "stop";
    res.reason = "correction beyond the couch's limits (" + beyond +
                 "): not applied; the patient must be set up again";
    return res;
  }
  if (res.correction.translation_mm.norm() < o.apply_threshold_mm &&
      std::abs(res.correction.rotation_deg) < 0.1) {
    res.decision = "apply";
    res.reason = "within the action threshold: no move needed";
    res.couch_after = res.couch_before;
    return res;
  }
  say("moving the couch");
  if (auto f = m.couch->command(res.couch_target)) {
    res.decision = "stop";
    res.reason = "couch refused the correction: " + f->describe();
    return res;
  }
  m.write_all(t);
  const double move_start = t;
  double settled_since = -1.0;
  while (true) {
    step();
    const auto& now = m.couch->state();
    const auto d = difference(res.couch_target, now);
    const double lin = d.translation_mm.cwiseAbs().maxCoeff();
    const double ang =
        std::max({std::abs(d.rotation_deg), std::abs(d.pitch_deg), std::abs(d.roll_deg)});
    // Arrived: within tolerance, and still so half a second later (the couch has settled).
    if (lin <= c.position_tolerance_mm && ang <= c.position_tolerance_deg) {
      if (settled_since < 0.0) settled_since = t;
      if (t - settled_since >= 0.5) break;
    } else {
      settled_since = -1.0;
    }
    if (auto f = device_fault()) {
      res.decision = "stop";
      res.reason = "fault while moving the couch: " + *f;
      res.couch_after = now;
      return res;
    }
    if (t - move_start > o.motion_timeout_s) {
      res.decision = "stop";
      res.reason = "the couch did not arrive: " + format_measured(lin, 2) + " mm, " +
                   format_measured(ang, 2) + " deg from the target after " +
                   format_measured(t - move_start, 0) + " s";
      res.couch_after = now;
      return res;
    }
    m.write_all(t);
  }
  res.couch_after = m.couch->state();
  res.couch_moved = true;
  res.decision = "apply";
  return res;
}

}  // namespace linac::igrt
