#include "segtune/common/listen_address.h"

#include <arpa/inet.h>

#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace segtune::common {

absl::Status ValidateListenAddress(std::string_view flag, const std::string& address) {
  const auto malformed = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(flag), " '", address, "': ", why,
        "; expected HOST:PORT, an IPv4 address or host name and a port from 0 to 65535 (0: any free port)"));
  };
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return malformed("no port");
  const std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.empty()) return malformed("no host");
  bool numeric = true;
  for (const char c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') {
      return malformed(absl::StrCat("host '", host, "' is not an IPv4 address or host name"));
    }
    numeric = numeric && (std::isdigit(static_cast<unsigned char>(c)) || c == '.');
  }
  in_addr ipv4{};
  if (numeric && inet_pton(AF_INET, host.c_str(), &ipv4) != 1) {
    return malformed(absl::StrCat("host '", host, "' is not an IPv4 address"));
  }
  int port_number = -1;
  const bool digits_only =
      !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
  if (!digits_only || !absl::SimpleAtoi(port, &port_number) || port_number > 65535) {
    return malformed(absl::StrCat("port '", port, "' is not a number from 0 to 65535"));
  }
  return absl::OkStatus();
}

}  // namespace segtune::common
