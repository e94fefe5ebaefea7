# Finds the OpenCV 4 modules the project uses (core, imgproc) from Debian's split
# -dev packages, which ship headers and libraries but no OpenCVConfig.cmake (that comes only with
# the libopencv-dev meta package and its whole tree of modules). Defines OpenCV::<module>.
find_path(OpenCVModules_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4)
set(_ocv_vars OpenCVModules_INCLUDE_DIR)
foreach(_m IN LISTS OpenCVModules_FIND_COMPONENTS)
  find_library(OpenCVModules_${_m}_LIBRARY NAMES opencv_${_m})
  list(APPEND _ocv_vars OpenCVModules_${_m}_LIBRARY)
endforeach()
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(OpenCVModules REQUIRED_VARS ${_ocv_vars})
if(OpenCVModules_FOUND)
  foreach(_m IN LISTS OpenCVModules_FIND_COMPONENTS)
    if(NOT TARGET OpenCV::${_m})
      add_library(OpenCV::${_m} UNKNOWN IMPORTED)
      set_target_properties(OpenCV::${_m} PROPERTIES
        IMPORTED_LOCATION "${OpenCVModules_${_m}_LIBRARY}"
        INTERFACE_INCLUDE_DIRECTORIES "${OpenCVModules_INCLUDE_DIR}")
    endif()
  endforeach()
endif()
mark_as_advanced(${_ocv_vars})
