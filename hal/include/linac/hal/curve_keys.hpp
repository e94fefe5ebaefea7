#pragma once
// CurveZMQ key pairs for the machine link. Keys are Z85 text (40 characters). A key-pair file
// ("NAME.key", mode 0600) holds "public <z85>" and "secret <z85>" lines; a public-key file
// ("NAME.pub") holds the public key alone and may be shared.
#include <filesystem>
#include <string>
#include <vector>

namespace linac::hal {

struct CurveKeyPair {
  std::string public_z85;
  std::string secret_z85;
};

CurveKeyPair generate_curve_keypair();
/// Writes PREFIX.key and PREFIX.pub; returns the two paths.
std::vector<std::filesystem::path> write_curve_keypair(const std::filesystem::path& prefix,
                                                       const CurveKeyPair& keys);
/// Throws InputError naming the file when it is missing, holds no valid key, or is open to
/// group or others (its mode beyond 0700: a secret key must stay secret).
CurveKeyPair read_curve_keypair(const std::filesystem::path& key_file);
/// Reads a .pub file (or the public line of a .key file).
std::string read_curve_public_key(const std::filesystem::path& file);
/// True for 40 characters of valid Z85 that decode to 32 bytes.
bool is_valid_z85_key(const std::string& z85);

}  // namespace linac::hal
