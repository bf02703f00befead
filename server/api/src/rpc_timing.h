// Times every gRPC call on the server, from the moment the call arrives to
// the moment its status is sent, into CoordinatorMetrics' per-method
// histogram. An interceptor sees every service, so the handlers stay free of
// timing code.
//
// Thread-safety: the factory is shared by all calls (it only reads its
// metrics pointer); each interceptor belongs to one call.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include "segtune/metrics/coordinator_metrics.h"

namespace segtune::api {

class RpcTimingInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcTimingInterceptorFactory(metrics::CoordinatorMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  metrics::CoordinatorMetrics* const metrics_;
};

// The method paths of the services segtune serves ("/segtune.v1.Tuner/SubmitSweep", ...).
std::vector<std::string> SegtuneRpcMethods();

}  // namespace segtune::api
