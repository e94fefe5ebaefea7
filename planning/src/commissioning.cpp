#include "linac/planning/commissioning.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <nlopt.hpp>

#include "linac/core/error.hpp"
#include "linac/core/text.hpp"

namespace linac::planning {

bool FigureCheck::ok() const {
  const double d = std::abs(difference());
  return relative ? d <= tolerance * std::abs(measured) + 1e-12 : d <= tolerance + 1e-12;
}

int CommissioningSummary::figures_failed() const {
  return static_cast<int>(
      std::count_if(figures.begin(), figures.end(), [](const auto& f) { return !f.ok(); }));
}

int CommissioningSummary::curves_failed() const {
  return static_cast<int>(std::count_if(curves.begin(), curves.end(),
                                        [](const auto& c) { return !c.within_2pct_or_2mm; }));
}

WaterPoint water_dmax(const BeamModel& m, double fx, double fy, double ssd) {
  auto d = [&](double z) { return m.water_dose_per_mu(ssd, fx, fy, z); };
  double best_z = 0.0;
  double best = -1.0;
  for (double z = 0.0; z <= 45.0; z += 1.0) {
    const double v = d(z);
    if (v > best) {
      best = v;
      best_z = z;
    }
  }
  double lo = std::max(0.0, best_z - 1.0);
  double hi = best_z + 1.0;
  const double g = 0.5 * (std::sqrt(5.0) - 1.0);
  double a = hi - g * (hi - lo);
  double b = lo + g * (hi - lo);
  double da = d(a);
  double db = d(b);
  for (int it = 0; it < 25; ++it) {
    if (da > db) {
      hi = b;
      b = a;
      db = da;
      a = hi - g * (hi - lo);
      da = d(a);
    } else {
      lo = a;
      a = b;
      da = db;
      b = lo + g * (hi - lo);
      db = d(b);
    }
  }
  const double z = 0.5 * (lo + hi);
  const double v = d(z);
  if (best >= v) return {best_z, best};
  return {z, v};
}

namespace {

/// Off-axis position (mm, at depth) where the profile across `axis` falls to `level` of CAX.
double crossing(const BeamModel& m, double fx, double fy, double ssd, double depth, double level,
                bool along_y) {
  const double centre = m.water_dose_per_mu(ssd, fx, fy, depth);
  const double half = 0.5 * (along_y ? fy : fx) * (ssd + depth) / m.sad_mm;
  double lo = 0.0;
  double hi = half + 80.0;
  for (int it = 0; it < 40; ++it) {
    const double mid = 0.5 * (lo + hi);
    const double v = along_y ? m.water_dose_per_mu(ssd, fx, fy, depth, 0.0, mid)
                             : m.water_dose_per_mu(ssd, fx, fy, depth, mid, 0.0);
    if (v / centre > level) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

std::string cm(double mm) {
  return format_measured(mm / 10.0, 1);
}
std::string field_name(double fx, double fy) {
  return cm(fx) + "x" + cm(fy) + " cm";
}

/// The model's curve at the measured points (doses normalised as the measurement).
std::vector<double> model_curve(const BeamModel& m, const BeamCurve& c,
                                const std::vector<double>& at,
                                std::map<std::tuple<double, double, double>, WaterPoint>& dmax) {
  std::vector<double> out;
  out.reserve(at.size());
  if (c.kind == BeamCurve::Kind::kDepthDose) {
    const auto key = std::make_tuple(c.field_x_mm, c.field_y_mm, c.ssd_mm);
    auto it = dmax.find(key);
    if (it == dmax.end()) {
      it = dmax.emplace(key, water_dmax(m, c.field_x_mm, c.field_y_mm, c.ssd_mm)).first;
    }
    for (const double z : at) {
      out.push_back(100.0 * m.water_dose_per_mu(c.ssd_mm, c.field_x_mm, c.field_y_mm, z) /
                    it->second.dose_at_dmax);
    }
    return out;
  }
  const bool y = c.kind == BeamCurve::Kind::kProfileY;
  const double centre = m.water_dose_per_mu(c.ssd_mm, c.field_x_mm, c.field_y_mm, c.depth_mm);
  for (const double x : at) {
    const double v =
        y ? m.water_dose_per_mu(c.ssd_mm, c.field_x_mm, c.field_y_mm, c.depth_mm, 0.0, x)
          : m.water_dose_per_mu(c.ssd_mm, c.field_x_mm, c.field_y_mm, c.depth_mm, x, 0.0);
    out.push_back(100.0 * v / centre);
  }
  return out;
}

/// The gradient-aware weight of each measured point: a dose difference counts less where the
/// curve is steep (a 0.5 mm shift there is a large dose difference).
std::vector<double> point_scales(const BeamCurve& c) {
  std::vector<double> s(c.points.size(), 0.5);
  for (std::size_t n = 0; n < c.points.size(); ++n) {
    const std::size_t a = n > 0 ? n - 1 : n;
    const std::size_t b = n + 1 < c.points.size() ? n + 1 : n;
    const double dx = c.points[b].first - c.points[a].first;
    const double g = dx > 0.0 ? (c.points[b].second - c.points[a].second) / dx : 0.0;
    s[n] = std::hypot(0.5, 0.5 * g);
  }
  return s;
}

struct Evaluator {
  const BeamData& data;
  std::vector<std::vector<double>> positions;
  std::vector<std::vector<double>> scales;

  explicit Evaluator(const BeamData& d) : data(d) {
    for (const auto& c : d.curves) {
      std::vector<double> x;
      for (const auto& p : c.points) x.push_back(p.first);
      positions.push_back(std::move(x));
      scales.push_back(point_scales(c));
    }
  }

  /// Every published figure against the model.
  [[nodiscard]] std::vector<FigureCheck> figures(const BeamModel& m) const {
    std::vector<FigureCheck> out;
    const double ssd = data.ssd_mm;
    const WaterPoint ref = water_dmax(m, 100.0, 100.0, ssd);
    for (const auto& f : data.fields) {
      const std::string fname = field_name(f.field_x_mm, f.field_y_mm);
      const WaterPoint w = water_dmax(m, f.field_x_mm, f.field_y_mm, ssd);
      if (!std::isnan(f.dmax_mm))
        out.push_back({"dmax, " + fname, "mm", f.dmax_mm, w.dmax_mm, 2.0});
      for (const auto& [depth, pct] : f.pdd_pct) {
        const double v =
            100.0 * m.water_dose_per_mu(ssd, f.field_x_mm, f.field_y_mm, depth) / w.dose_at_dmax;
        out.push_back({"PDD " + cm(depth) + " cm, " + fname, "%", pct, v, 1.5});
      }
      if (!std::isnan(f.surface_pct)) {
        const double v =
            100.0 * m.water_dose_per_mu(ssd, f.field_x_mm, f.field_y_mm, 0.0) / w.dose_at_dmax;
        out.push_back({"surface dose, " + fname, "%", f.surface_pct, v, 5.0});
      }
      if (!std::isnan(f.output_factor)) {
        const double v =
            m.water_dose_per_mu(ssd, f.field_x_mm, f.field_y_mm, ref.dmax_mm) / ref.dose_at_dmax;
        out.push_back({"output factor, " + fname, "", f.output_factor, v, 0.015, true});
      }
      if (!std::isnan(f.penumbra_80_20_mm)) {
        const double v =
            water_penumbra_80_20_mm(m, f.field_x_mm, f.field_y_mm, ssd, data.penumbra_depth_mm);
        out.push_back({"penumbra 80-20 % at " + cm(data.penumbra_depth_mm) + " cm, " + fname, "mm",
                       f.penumbra_80_20_mm, v, 1.5});
      }
    }
    for (const auto& o : data.output_factors) {
      const double v =
          m.water_dose_per_mu(ssd, o.field_x_mm, o.field_y_mm, ref.dmax_mm) / ref.dose_at_dmax;
      out.push_back({"output factor, " + field_name(o.field_x_mm, o.field_y_mm), "", o.factor, v,
                     0.015, true});
    }
    for (const auto& h : data.horns) {
      const double c = m.water_dose_per_mu(ssd, h.field_mm, h.field_mm, h.depth_mm);
      const double v = m.water_dose_per_mu(ssd, h.field_mm, h.field_mm, h.depth_mm, h.offaxis_mm);
      out.push_back({"horn " + cm(h.offaxis_mm) + " cm off axis at " + cm(h.depth_mm) + " cm, " +
                         field_name(h.field_mm, h.field_mm),
                     "%", h.excess_pct, 100.0 * (v / c - 1.0), 1.5});
    }
    for (const auto& o : data.out_of_field) {
      const double c = m.water_dose_per_mu(ssd, o.field_mm, o.field_mm, o.depth_mm);
      const double edge = 0.5 * o.field_mm * (ssd + o.depth_mm) / m.sad_mm;
      const double v =
          m.water_dose_per_mu(ssd, o.field_mm, o.field_mm, o.depth_mm, edge + o.outside_mm);
      out.push_back({"dose " + cm(o.outside_mm) + " cm outside the field at " + cm(o.depth_mm) +
                         " cm, " + field_name(o.field_mm, o.field_mm),
                     "%", o.dose_pct, 100.0 * v / c, 1.5});
    }
    return out;
  }

  /// The fit's cost: squared figure differences over their fitting scales, and every curve
  /// point's difference over a gradient-aware scale, each curve weighing like 20 figures.
  [[nodiscard]] double cost(const BeamModel& m) const {
    double c = 0.0;
    for (const auto& f : figures(m)) {
      double scale = 0.3;
      if (f.unit == "mm") scale = f.name.rfind("dmax", 0) == 0 ? 0.7 : 0.2;
      if (f.name.rfind("surface", 0) == 0) scale = 1.5;
      if (f.name.rfind("horn", 0) == 0) scale = 0.5;
      if (f.name.rfind("dose ", 0) == 0) scale = 0.5;
      double d = f.difference();
      if (f.relative)
        d /= 0.003 * f.measured;
      else
        d /= scale;
      c += d * d;
    }
    std::map<std::tuple<double, double, double>, WaterPoint> dmax;
    for (std::size_t k = 0; k < data.curves.size(); ++k) {
      const auto& curve = data.curves[k];
      const auto model = model_curve(m, curve, positions[k], dmax);
      double s = 0.0;
      for (std::size_t n = 0; n < model.size(); ++n) {
        const double d = (model[n] - curve.points[n].second) / scales[k][n];
        s += d * d;
      }
      c += 20.0 * s / static_cast<double>(std::max<std::size_t>(1, model.size()));
    }
    return c;
  }

  [[nodiscard]] std::vector<CurveCheck> curves(const BeamModel& m) const {
    std::vector<CurveCheck> out;
    std::map<std::tuple<double, double, double>, WaterPoint> dmax;
    for (const auto& c : data.curves) {
      CurveCheck r;
      r.name = c.name();
      r.kind = c.kind;
      r.measured = c.points;
      const double x0 = c.points.front().first;
      const double x1 = c.points.back().first;
      std::vector<double> fine;
      for (double x = x0 - 3.0; x <= x1 + 3.0 + 1e-9; x += 0.25) {
        if (c.kind == BeamCurve::Kind::kDepthDose && x < 0.0) continue;
        fine.push_back(x);
      }
      const auto model = model_curve(m, c, fine, dmax);
      for (std::size_t n = 0; n < fine.size(); ++n) r.computed.emplace_back(fine[n], model[n]);
      int pass = 0;
      bool all = true;
      for (const auto& [x, dose] : c.points) {
        // Dose difference at the point (linear interpolation of the fine curve).
        const double f =
            std::clamp((x - fine.front()) / 0.25, 0.0, static_cast<double>(fine.size() - 1));
        const auto i = static_cast<std::size_t>(std::min(f, static_cast<double>(fine.size() - 2)));
        const double a = f - static_cast<double>(i);
        const double at = model[i] * (1.0 - a) + model[i + 1] * a;
        const double diff = std::abs(at - dose);
        r.max_dose_difference_pct = std::max(r.max_dose_difference_pct, diff);
        double dta = 1e9;
        double gamma2 = 1e9;
        for (std::size_t n = 0; n < fine.size(); ++n) {
          const double dx = fine[n] - x;
          const double dd = model[n] - dose;
          gamma2 = std::min(gamma2, (dx / 2.0) * (dx / 2.0) + (dd / 2.0) * (dd / 2.0));
          if (n > 0 && (model[n - 1] - dose) * dd <= 0.0) {
            dta = std::min(dta, std::abs(dx));
          }
        }
        if (gamma2 <= 1.0) ++pass;
        if (diff > 2.0) {
          r.max_dta_mm = std::max(r.max_dta_mm, dta);
          if (dta > 2.0) all = false;
        }
      }
      r.pass_2pct_2mm = 100.0 * pass / static_cast<double>(c.points.size());
      r.within_2pct_or_2mm = all;
      out.push_back(std::move(r));
    }
    return out;
  }
};

}  // namespace

double water_penumbra_80_20_mm(const BeamModel& m, double fx, double fy, double ssd, double depth) {
  return crossing(m, fx, fy, ssd, depth, 0.2, false) - crossing(m, fx, fy, ssd, depth, 0.8, false);
}

CommissioningSummary commission_beam_model(const BeamModel& start, const BeamData& data,
                                           const CommissioningOptions& options) {
  if (data.empty()) throw InputError(data.source, "the beam data set is empty");
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const Evaluator ev(data);
  CommissioningSummary s;
  BeamModel m = start;
  m.calibrate();
  s.cost_start = ev.cost(m);
  s.stop_reason = "not fitted (checked only)";
  if (options.fit) {
    const auto [lo, hi] = parameter_bounds();
    std::vector<double> x = parameter_vector(m.p);
    for (std::size_t n = 0; n < x.size(); ++n) x[n] = std::clamp(x[n], lo[n], hi[n]);
    struct Ctx {
      const Evaluator* ev;
      BeamModel* m;
      int evaluations;
    } ctx{&ev, &m, 0};
    // BOBYQA from the start, then Subplex and BOBYQA in turn from the result (fresh steps leave
    // shallow local minima) while a
    // restart still lowers the cost by more than 0.1 %.
    double best = 0.0;
    double previous = s.cost_start;
    nlopt::result result = nlopt::FAILURE;
    for (int round = 0; round < 8 && ctx.evaluations < options.max_evaluations; ++round) {
      nlopt::opt opt(round % 2 == 0 ? nlopt::LN_BOBYQA : nlopt::LN_SBPLX,
                     static_cast<unsigned>(x.size()));
      opt.set_lower_bounds(lo);
      opt.set_upper_bounds(hi);
      opt.set_maxeval(std::max(1, options.max_evaluations - ctx.evaluations));
      opt.set_ftol_rel(1e-9);
      std::vector<double> step(x.size());
      for (std::size_t n = 0; n < x.size(); ++n) {
        step[n] = std::min({0.1 * (hi[n] - lo[n]), x[n] - lo[n], hi[n] - x[n]});
        if (!(step[n] > 0.0)) step[n] = 0.05 * (hi[n] - lo[n]);
      }
      try {
        opt.set_initial_step(step);
      } catch (const std::exception&) {
        // the default steps
      }
      opt.set_min_objective(
          [](const std::vector<double>& q, std::vector<double>& /*grad*/, void* ctx_data) {
            auto* c = static_cast<Ctx*>(ctx_data);
            ++c->evaluations;
            c->m->p = parameters_from(q);
            c->m->calibrate();
            return c->ev->cost(*c->m);
          },
          &ctx);
      try {
        result = opt.optimize(x, best);
      } catch (const nlopt::roundoff_limited&) {
        result = nlopt::ROUNDOFF_LIMITED;
        m.p = parameters_from(x);
        m.calibrate();
        best = ev.cost(m);
      }
      if (round % 2 == 1 && best > previous * 0.999) break;
      previous = best;
    }
    switch (result) {
      case nlopt::MAXEVAL_REACHED:
        s.stop_reason = "evaluation limit reached";
        break;
      case nlopt::FTOL_REACHED:
      case nlopt::XTOL_REACHED:
        s.stop_reason = "converged (a restart lowered the cost by less than 0.1 %)";
        break;
      case nlopt::ROUNDOFF_LIMITED:
        s.stop_reason = "round-off limited (best point kept)";
        break;
      default:
        s.stop_reason = "stopped (NLopt result " + std::to_string(static_cast<int>(result)) + ")";
    }
    m.p = parameters_from(x);
    m.calibrate();
    s.evaluations = ctx.evaluations;
  }
  s.fit_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto t1 = Clock::now();
  s.cost = ev.cost(m);
  s.figures = ev.figures(m);
  s.curves = ev.curves(m);
  s.model = m;
  s.check_s = std::chrono::duration<double>(Clock::now() - t1).count();
  return s;
}

}  // namespace linac::planning
