#pragma once
// One simulated motion axis: a position servo with first-order lag, speed and acceleration
// limits, integrated in sub-steps of at most 1 ms, with hooks for injected faults.
#include <algorithm>
#include <cmath>

namespace linac::sim {

struct ServoLimits {
  double min = 0.0;
  double max = 0.0;
  double max_speed_per_s = 1.0;
  double max_acceleration_per_s2 = 10.0;
  double time_constant_s = 0.05;
};

class ServoAxis {
 public:
  ServoAxis() = default;
  ServoAxis(const ServoLimits& limits, double position) : limits_(limits), position_(position) {
    target_ = position;
  }

  /// New set-point; `speed_limit_per_s` <= 0 means the axis maximum.
  void set_target(double target, double speed_limit_per_s = 0.0) {
    // Velocity feed-forward: a set-point stream that moves feasibly is tracked without the lag
    // of a pure position loop; a jump (a new destination) is approached from rest.
    const double step = target - target_;
    const bool streaming = since_target_s_ > 0.0 && since_target_s_ < 0.25;
    feed_forward_per_s_ =
        streaming && std::abs(step) <= 1.5 * limits_.max_speed_per_s * since_target_s_
            ? step / since_target_s_
            : 0.0;
    since_target_s_ = 0.0;
    target_ = target;
    speed_limit_ = speed_limit_per_s > 0.0 ? std::min(speed_limit_per_s, limits_.max_speed_per_s)
                                           : limits_.max_speed_per_s;
  }

  /// Advances the physics by dt_s.
  void step(double dt_s) {
    const double max_step = 1e-3;
    while (dt_s > 1e-12) {
      const double dt = std::min(dt_s, max_step);
      dt_s -= dt;
      if (stuck_) {
        velocity_ = 0.0;
        continue;
      }
      // Proportional servo with lag, limited by the speed and by the speed from which the axis
      // can still brake to a stop at the target (so it does not overshoot).
      const double accel = limits_.max_acceleration_per_s2 * std::max(1.0, speed_factor_);
      offset_ += drift_per_s_ * dt;  // a slipping drive: the axis settles ever further off
      const double error = target_ + offset_ - position_;
      since_target_s_ += dt;
      if (since_target_s_ > 0.25) feed_forward_per_s_ = 0.0;  // the stream stopped
      const double vmax =
          std::min(speed_limit_ * speed_factor_,
                   std::abs(feed_forward_per_s_) + std::sqrt(2.0 * accel * std::abs(error)));
      double wanted =
          std::clamp(feed_forward_per_s_ + error / limits_.time_constant_s, -vmax, vmax);
      if (speed_factor_ > 1.0 && std::abs(error) > 1e-3) {
        // A runaway drive: full speed times the factor towards (and past) the target.
        wanted = std::copysign(limits_.max_speed_per_s * speed_factor_, error);
      }
      const double dv_max = accel * dt;
      velocity_ += std::clamp(wanted - velocity_, -dv_max, dv_max);
      position_ += velocity_ * dt;
    }
  }

  [[nodiscard]] double position() const { return position_; }
  [[nodiscard]] double velocity() const { return velocity_; }
  [[nodiscard]] double target() const { return target_; }
  [[nodiscard]] const ServoLimits& limits() const { return limits_; }

  // Injected faults.
  void set_stuck(bool stuck) { stuck_ = stuck; }
  void set_drift(double per_s) { drift_per_s_ = per_s; }
  void set_speed_factor(double f) { speed_factor_ = f; }  // < 1 slow, > 1 overspeed
  void set_offset(double offset) { offset_ = offset; }    // settles this far off the target

 private:
  ServoLimits limits_;
  double position_ = 0.0;
  double velocity_ = 0.0;
  double target_ = 0.0;
  double speed_limit_ = 1.0;
  bool stuck_ = false;
  double drift_per_s_ = 0.0;
  double speed_factor_ = 1.0;
  double offset_ = 0.0;
  double since_target_s_ = 0.0;
  double feed_forward_per_s_ = 0.0;
};

}  // namespace linac::sim
