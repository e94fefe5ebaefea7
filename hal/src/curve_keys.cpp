#include "linac/hal/curve_keys.hpp"

#include <sys/stat.h>
#include <zmq.h>

#include <array>
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "linac/core/error.hpp"
#include "linac/core/file_util.hpp"

namespace linac::hal {
namespace fs = std::filesystem;

bool is_valid_z85_key(const std::string& z85) {
  if (z85.size() != 40) return false;
  std::array<std::uint8_t, 32> raw{};
  return zmq_z85_decode(raw.data(), z85.c_str()) != nullptr;
}

CurveKeyPair generate_curve_keypair() {
  std::array<char, 41> pub{};
  std::array<char, 41> sec{};
  if (zmq_curve_keypair(pub.data(), sec.data()) != 0) {
    throw std::runtime_error("this ZeroMQ has no CURVE security (libsodium missing)");
  }
  return {pub.data(), sec.data()};
}

std::vector<fs::path> write_curve_keypair(const fs::path& prefix, const CurveKeyPair& keys) {
  const fs::path key = fs::path(prefix).concat(".key");
  const fs::path pub = fs::path(prefix).concat(".pub");
  const std::string secret_text =
      "# CurveZMQ key pair of the linac machine link; keep secret\npublic " + keys.public_z85 +
      "\nsecret " + keys.secret_z85 + "\n";
  write_file_atomically(key, {secret_text});
  ::chmod(key.c_str(), 0600);
  write_file_atomically(pub, {keys.public_z85 + "\n"});
  return {key, pub};
}

namespace {
std::pair<std::string, std::string> parse_key_file(const fs::path& file) {
  const std::string text = read_text_file(file);
  std::istringstream is(text);
  std::string line;
  std::string pub;
  std::string sec;
  std::string bare;
  while (std::getline(is, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string a;
    std::string b;
    ls >> a >> b;
    if (a == "public") {
      pub = b;
    } else if (a == "secret") {
      sec = b;
    } else if (b.empty()) {
      bare = a;
    }
  }
  if (pub.empty()) pub = bare;
  return {pub, sec};
}
}  // namespace

CurveKeyPair read_curve_keypair(const fs::path& key_file) {
  // A secret key others can read is no longer secret: refused as ssh refuses such a key.
  struct stat st {};
  if (::stat(key_file.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw InputError(
        key_file.string(),
        std::string("holds a secret key and is open to others (mode ") + mode + "); chmod 600 it");
  }
  const auto [pub, sec] = parse_key_file(key_file);
  if (!is_valid_z85_key(pub)) throw InputError(key_file.string(), "no valid public key");
  if (!is_valid_z85_key(sec)) {
    throw InputError(key_file.string(),
                     "no valid secret key (a .key file made by 'linac sim keygen' is needed)");
  }
  return {pub, sec};
}

std::string read_curve_public_key(const fs::path& file) {
  const auto [pub, sec] = parse_key_file(file);
  if (!is_valid_z85_key(pub)) throw InputError(file.string(), "no valid public key");
  return pub;
}

}  // namespace linac::hal
