#pragma once
// Clocks for the HAL cycle: real time for live runs, virtual time advanced by the controller
// for fast, deterministic tests. The same code path runs on both.
#include <chrono>

namespace linac::hal {

class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual double now_s() const = 0;
  /// Waits until `t_s` (real clock) or jumps there (virtual clock); never goes back.
  virtual void advance_to(double t_s) = 0;
};

class VirtualClock final : public Clock {
 public:
  [[nodiscard]] double now_s() const override { return now_s_; }
  void advance_to(double t_s) override {
    if (t_s > now_s_) now_s_ = t_s;
  }

 private:
  double now_s_ = 0.0;
};

class RealTimeClock final : public Clock {
 public:
  RealTimeClock();
  [[nodiscard]] double now_s() const override;
  void advance_to(double t_s) override;

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace linac::hal
