// Certificates for TLS tests, made with the openssl command line the way
// docs/security.md tells users to: a CA, a server certificate for localhost
// and 127.0.0.1, and a client certificate, each signed by that CA.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace segtune::testing {

struct CertificateFiles {
  std::string ca;           // the CA's certificate
  std::string server_cert;  // CN localhost, SAN DNS:localhost, IP:127.0.0.1
  std::string server_key;
  std::string client_cert;  // CN segtune-client, extendedKeyUsage clientAuth
  std::string client_key;
};

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Makes the files in `dir`; false when openssl failed (its output is in dir/openssl.log).
inline bool MakeCertificates(const std::filesystem::path& dir, CertificateFiles* files) {
  std::filesystem::create_directories(dir);
  const std::string script = R"(set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
key ca.key
openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=segtune test CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
key server.key
openssl req -new -key server.key -out server.csr -subj "/CN=localhost"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
key client.key
openssl req -new -key client.key -out client.csr -subj "/CN=segtune-client"
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem
)";
  std::ofstream(dir / "make.sh") << script;
  const std::string command = "cd '" + dir.string() + "' && bash make.sh > openssl.log 2>&1";
  if (std::system(command.c_str()) != 0) return false;
  files->ca = (dir / "ca.pem").string();
  files->server_cert = (dir / "server.pem").string();
  files->server_key = (dir / "server.key").string();
  files->client_cert = (dir / "client.pem").string();
  files->client_key = (dir / "client.key").string();
  return true;
}

}  // namespace segtune::testing
