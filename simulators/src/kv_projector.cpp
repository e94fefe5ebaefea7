#include "linac/simulators/kv_projector.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "linac/core/resample.hpp"
#include "linac/core/units.hpp"

namespace linac::sim {

double mu_water_per_mm(double kvp) {
  // Effective energy (keV) and water's linear attenuation (1/cm) from NIST XCOM.
  static const double e_kev[] = {30.0, 40.0, 50.0, 60.0, 80.0, 100.0};
  static const double mu_cm[] = {0.3756, 0.2683, 0.2269, 0.2059, 0.1837, 0.1707};
  const double e = std::clamp(0.48 * kvp, 30.0, 100.0);
  std::size_t k = 0;
  while (k + 2 < std::size(e_kev) && e > e_kev[k + 1]) ++k;
  const double f = (e - e_kev[k]) / (e_kev[k + 1] - e_kev[k]);
  // Log-linear interpolation (attenuation falls roughly exponentially with energy here).
  return 0.1 * std::exp(std::log(mu_cm[k]) + f * (std::log(mu_cm[k + 1]) - std::log(mu_cm[k])));
}

Volume<float> attenuation_from_hu(const ImageHU& ct, double kvp) {
  const double mu_w = mu_water_per_mm(kvp);
  const double e = std::clamp(0.48 * kvp, 30.0, 100.0);
  const double bone_slope = 1.0 + 0.18 * std::pow(60.0 / e, 3.0);
  return ct.map<float>([mu_w, bone_slope](std::int16_t hu) {
    const double h = hu / 1000.0;
    return static_cast<float>(std::max(0.0, mu_w * (1.0 + (h > 0.0 ? bone_slope * h : h))));
  });
}

Volume<float> imaging_subject(const Case& c, const RigidTransform& setup_error) {
  // The anatomy moves, its voxels do not change: the set-up error goes into the grid's origin
  // and direction (a point at index ijk now lies at setup_error(p)), not through a resampling,
  // whose interpolation would blur the subject by an amount that varies with the sub-voxel
  // offset -- a blur no patient has, and one a registration on the planning CT reads as a
  // sub-voxel shift (ADR 0004).
  Volume<float> mu = attenuation_from_hu(centred_on(c.ct, treatment_isocentre_mm(c)));
  Grid g = mu.grid();
  g.origin_mm = setup_error.apply(g.origin_mm);
  g.direction = setup_error.rotation() * g.direction;
  Volume<float> moved(g);
  moved.data() = std::move(mu.data());
  return moved;
}

namespace {

// Parametric interval [t0, t1] of a + t (b - a), t in [0, 1], inside the box [lo, hi].
bool clip(const Eigen::Vector3d& a, const Eigen::Vector3d& b, const Eigen::Vector3d& lo,
          const Eigen::Vector3d& hi, double& t0, double& t1) {
  t0 = 0.0;
  t1 = 1.0;
  const Eigen::Vector3d d = b - a;
  for (int k = 0; k < 3; ++k) {
    if (std::abs(d[k]) < 1e-12) {
      if (a[k] < lo[k] || a[k] > hi[k]) return false;
      continue;
    }
    double ta = (lo[k] - a[k]) / d[k];
    double tb = (hi[k] - a[k]) / d[k];
    if (ta > tb) std::swap(ta, tb);
    t0 = std::max(t0, ta);
    t1 = std::min(t1, tb);
    if (t0 >= t1) return false;
  }
  return true;
}

double poisson(Rng& rng, double mean) {
  if (mean > 50.0) return std::max(0.0, std::round(rng.normal(mean, std::sqrt(mean))));
  const double limit = std::exp(-mean);
  double p = 1.0;
  double k = 0.0;
  do {
    p *= rng.uniform();
    k += 1.0;
  } while (p > limit);
  return k - 1.0;
}

}  // namespace

hal::KvProjection project_kv(const Volume<float>& mu, const RigidTransform& patient_to_fixed,
                             const ImagerProfile& imager, double gantry_deg,
                             const hal::KvRequest& request, Rng* noise) {
  hal::KvProjection p;
  const int bin = std::max(1, request.binning);
  p.gantry_deg = gantry_deg;
  p.kv_source_angle_deg = gantry_deg + 90.0;
  p.source_axis_distance_mm = imager.source_axis_distance_mm;
  p.source_imager_distance_mm = imager.source_imager_distance_mm;
  p.pixel_pitch_mm = imager.pixel_pitch_mm * bin;
  p.columns = imager.panel_columns / bin;
  p.rows = imager.panel_rows / bin;
  p.detector_offset_mm = request.half_fan ? imager.half_fan_offset_mm : 0.0;
  p.line_integral.assign(static_cast<std::size_t>(p.columns) * static_cast<std::size_t>(p.rows),
                         0.0F);

  const Eigen::Matrix3d r =
      Eigen::AngleAxisd(units::deg_to_rad(p.kv_source_angle_deg), Eigen::Vector3d::UnitY())
          .toRotationMatrix();
  const Eigen::Vector3d source = r * Eigen::Vector3d(0.0, 0.0, p.source_axis_distance_mm);
  const Eigen::Vector3d u_axis = r * Eigen::Vector3d::UnitX();
  const Eigen::Vector3d v_axis = Eigen::Vector3d::UnitY();
  const Eigen::Vector3d panel_centre =
      r * Eigen::Vector3d(p.detector_offset_mm, 0.0,
                          -(p.source_imager_distance_mm - p.source_axis_distance_mm));
  // Into the image's continuous index space.
  const RigidTransform fixed_to_patient = patient_to_fixed.inverse();
  const Grid& g = mu.grid();
  auto to_index = [&](const Eigen::Vector3d& fixed_mm) {
    return g.world_mm_to_index(fixed_to_patient.apply(fixed_mm));
  };
  const Eigen::Vector3d a = to_index(source);
  const Eigen::Vector3d lo = Eigen::Vector3d::Constant(-0.5);
  const Eigen::Vector3d hi(static_cast<double>(g.dims[0]) - 0.5,
                           static_cast<double>(g.dims[1]) - 0.5,
                           static_cast<double>(g.dims[2]) - 0.5);
  const double step_mm = 0.5 * g.spacing_mm.minCoeff();

#pragma omp parallel for schedule(dynamic, 4)
  for (int row = 0; row < p.rows; ++row) {
    const double v = (row - (p.rows - 1) / 2.0) * p.pixel_pitch_mm;
    for (int col = 0; col < p.columns; ++col) {
      const double u = (col - (p.columns - 1) / 2.0) * p.pixel_pitch_mm;
      const Eigen::Vector3d pixel = panel_centre + u * u_axis + v * v_axis;
      const Eigen::Vector3d b = to_index(pixel);
      double t0 = 0.0;
      double t1 = 0.0;
      double sum = 0.0;
      if (clip(a, b, lo, hi, t0, t1)) {
        const double length_mm = (pixel - source).norm();
        const double dt = step_mm / length_mm;
        const auto steps = static_cast<int>(std::ceil((t1 - t0) / dt));
        const double real_dt = (t1 - t0) / std::max(1, steps);
        for (int s = 0; s < steps; ++s) {
          const double t = t0 + (s + 0.5) * real_dt;
          sum += sample(mu, a + t * (b - a), Interpolation::kLinear, 0.0);
        }
        sum *= real_dt * length_mm;
      }
      p.line_integral[static_cast<std::size_t>(row) * static_cast<std::size_t>(p.columns) +
                      static_cast<std::size_t>(col)] = static_cast<float>(sum);
    }
  }
  if (imager.scatter_scale > 0.0) {
    // Scatter: a broad, low-frequency background from the interactions along the rays.
    cv::Mat primary(p.rows, p.columns, CV_64F);
    cv::Mat interacted(p.rows, p.columns, CV_64F);
    for (int y = 0; y < p.rows; ++y) {
      for (int c = 0; c < p.columns; ++c) {
        const double t = std::exp(-static_cast<double>(
            p.line_integral[static_cast<std::size_t>(y) * static_cast<std::size_t>(p.columns) +
                            static_cast<std::size_t>(c)]));
        primary.at<double>(y, c) = t;
        interacted.at<double>(y, c) = 1.0 - t;
      }
    }
    cv::Mat blurred;
    const double sigma_px = imager.scatter_blur_mm / p.pixel_pitch_mm;
    cv::GaussianBlur(interacted, blurred, cv::Size(0, 0), sigma_px, sigma_px, cv::BORDER_CONSTANT);
    for (int y = 0; y < p.rows; ++y) {
      for (int c = 0; c < p.columns; ++c) {
        const double t = primary.at<double>(y, c) + imager.scatter_scale * blurred.at<double>(y, c);
        p.line_integral[static_cast<std::size_t>(y) * static_cast<std::size_t>(p.columns) +
                        static_cast<std::size_t>(c)] = static_cast<float>(-std::log(t));
      }
    }
  }
  if (noise != nullptr && request.photons_per_pixel > 0.0) {
    const double n0 = request.photons_per_pixel * bin * bin;
    for (auto& l : p.line_integral) {
      const double counts = poisson(*noise, n0 * std::exp(-static_cast<double>(l)));
      l = static_cast<float>(-std::log(std::max(counts, 0.5) / n0));
    }
  }
  return p;
}

}  // namespace linac::sim
